"""A business key's queue: sagas started with ``if_active="queue"`` while
another saga of their name had their key wait, ``queued``, and start one at
a time, oldest first.

The saga holding the key knows it has a queue (``has_queue``, set under
its row's lock as a saga joins). When it finishes (completed or
compensated), the transaction that writes its end starts the first saga
of the queue once its own row is written (the database lets one
unfinished saga have the key). It reads ``has_queue`` under its row's lock,
which a joining saga takes too: a saga joining just as its holder finishes
is in the queue that starts, or finds the holder finished and takes the key.
A queued saga left with no holder all the same (its rows written by hand,
say) is started by the sweeper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import clock, signals
from ..models import SagaState, StepStatus
from .dispatch import start
from .parents import tell_parent

if TYPE_CHECKING:
    from ..stores.base import Unit


def saga_finished(unit: Unit) -> None:
    """The unit's saga completed or was compensated: its parent learns it,
    and the first saga queued for its key starts."""
    tell_parent(unit)
    if unit.saga.key and unit.queue_waits():
        unit.after_flush(lambda: _start_next(unit))


def _start_next(unit: Unit) -> None:
    first = unit.next_queued()
    if first is not None:
        with unit.owning_store().open_saga(first) as queued:
            start_queued(queued)


def start_queued(unit: Unit) -> bool:
    """Start the unit's saga, queued for its key; False if it is not queued
    (cancelled meanwhile). Those queued after it now wait for it."""
    saga = unit.saga
    if saga.state != SagaState.QUEUED:
        return False
    saga.state = SagaState.STARTED
    saga.has_queue = unit.next_queued() is not None
    unit.save_saga_fields(["state", "has_queue"])
    start(unit)
    return True


def cancel_queued(unit: Unit, reason: str) -> None:
    """An operator cancels a saga waiting in its key's queue: nothing ran, so
    nothing is undone; it ends ``compensated``, its steps ``cancelled``."""
    for step in unit.lock_saga():
        step.status = StepStatus.CANCELLED
        unit.save_step(step, ["status"])
    saga = unit.saga
    saga.state = SagaState.COMPENSATED
    saga.error = reason
    saga.completed_at = clock.now()
    unit.save_saga_fields(["state", "error", "completed_at"])
    unit.notify(signals.saga_compensated)
