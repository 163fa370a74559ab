"""A child saga's end, told to the step of its parent that waits for it.

A child never locks its parent: a parent's unit may lock its children
(to compensate them), so the other order could deadlock. When a child
saga ends (completed, compensated, halted, failed, its compensation
failed), its unit sends the parent's step a ``settle`` message, written
to the outbox in the same transaction: no redelivery could bring it back
should the engine stop before the broker has it. The parent's step then
reads the child's state and settles from it (``flow.children``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..messages import SETTLE

if TYPE_CHECKING:
    from ..stores.base import Unit


def tell_parent(unit: Unit) -> None:
    """The unit's saga ended (for now): if it is a child, its parent's step learns it."""
    saga = unit.saga
    if saga.parent_id and saga.parent_step_id:
        unit.send_to(saga.parent_id, saga.parent_step_id, SETTLE, 1, relayed=True)
