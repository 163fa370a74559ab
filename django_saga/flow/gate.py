"""The gate of a limited action: run now, or wait (as a row, or a message due later).

A message whose handler's action declares a rate takes the action's next
turn first; a turn still to come sends the message again, due then, and
marked as holding its turn. A message whose action declares a concurrency
limit then runs only in a transaction holding one of the action's slots.
Without a free slot, or with messages of the same queue waiting before it,
it is held: a row in the queue, its delivery acknowledged, no engine thread
kept. An attempt's timeout waits with it: it stops while the message is
held and starts again when it is released, and it is put off by the wait
for a turn, so no attempt fails for the time it spent waiting.
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

#: A turn this close (seconds) is now: the relay could not send it sooner.
TURN_SLACK = 0.001


def admit(unit: Unit, step: SagaStep, kind: str, action: str, limit: Limit, attempt: int) -> bool:
    """Whether the ``kind`` handler of ``step`` may run now; if not, its
    message waits for its turn or for a slot (the caller stops there)."""
    saga = unit.saga
    if unit.released is not None:
        # It had its turn and its slot came with it; its attempt's time starts now.
        if kind == EXECUTE and step.timeout is not None:
            step.timeout_at = clock.later(step.timeout)
            unit.save_step(step, ["timeout_at"])
        return True
    if limit.rate is not None and not unit.rated:
        wait = unit.take_turn(f"{kind}:{action}", limit.rate.interval)
        if wait > TURN_SLACK:
            unit.send_to(saga.pk, step.pk, kind, attempt, delay=wait, rated=True)
            if kind == EXECUTE and step.timeout is not None:
                step.timeout_at = clock.later(wait + step.timeout)
                unit.save_step(step, ["timeout_at"])
            return False
    if limit.concurrency is None:
        return True
    gate = Gate(kind, action, limit.key_of(saga.key, saga.pk), limit.concurrency)
    unit.gates.add(gate)
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
