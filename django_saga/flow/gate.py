"""The gate of a limited action: run now, or wait in its queue as a row.

A message whose handler's action declares a concurrency limit runs only in
a transaction holding one of the action's slots. Without a free slot, or
with messages of the same queue waiting before it, it is held: a row in
the queue, its delivery acknowledged, no engine thread kept. An attempt's
timeout stops while it waits and starts again when it is released, so no
attempt fails for the time it spent in the queue.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .. import clock
from ..limits import Gate, Limit
from ..messages import EXECUTE, StepMessage
from ..models import SagaStep

if TYPE_CHECKING:
    from ..stores.base import Unit

logger = logging.getLogger("django_saga.engine")


def admit(unit: Unit, step: SagaStep, kind: str, action: str, limit: Limit, attempt: int) -> bool:
    """Whether the ``kind`` handler of ``step`` may run now; if not, its
    message is held in the queue of ``action`` (the caller stops there)."""
    saga = unit.saga
    gate = Gate(kind, action, limit.key_of(saga.key, saga.pk), limit.concurrency)
    unit.gates.add(gate)
    if unit.released is not None:
        # Its slot came with it; its attempt's time starts now.
        if kind == EXECUTE and step.timeout is not None:
            step.timeout_at = clock.later(step.timeout)
            unit.save_step(step, ["timeout_at"])
        return True
    if unit.take_slot(gate):
        return True
    unit.hold_message(StepMessage(kind, saga.pk, step.pk, attempt), gate)
    if kind == EXECUTE and step.timeout_at is not None:
        step.timeout_at = None
        unit.save_step(step, ["timeout_at"])
    logger.debug(
        "Holding the %s of saga=%s step=%s: no slot of %s free (%s)",
        kind,
        saga.pk,
        step.name,
        gate.describe(),
        limit.describe(),
    )
    return False
