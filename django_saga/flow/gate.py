"""The gate of a limited action: run now, or wait (as a row, or a message due later).

A message whose handler's action declares a rate takes the action's next
turn first; a turn still to come sends the message again, due then, and
marked as holding its turn. A message whose action declares a concurrency
limit then runs only in a transaction holding one of the action's slots.
Without a free slot, or with messages of the same queue waiting before it,
it is held: a row in the queue, its delivery acknowledged, no engine thread
kept. An attempt's timeout waits with it: it stops while the message is
held and starts again when it is released, and it is put off by the wait
for a turn, so no attempt fails for the time it spent waiting. A run the
gate lets start is counted (``tally``) for the action's current rate.
"""

from __future__ import annotations

import fnmatch
import logging
from typing import TYPE_CHECKING

from .. import clock
from ..limits import Gate, Limit
from ..messages import EXECUTE, StepMessage
from ..models import Pause, SagaStep, Scope
from .tally import TALLY

if TYPE_CHECKING:
    from ..stores.base import Unit

logger = logging.getLogger("django_saga.engine")

#: A turn this close (seconds) is now: the relay could not send it sooner.
TURN_SLACK = 0.001


def may_run(
    unit: Unit, step: SagaStep, kind: str, action: str, attempt: int, limit: Limit | None
) -> bool:
    """Whether the ``kind`` handler of ``step`` runs now: nothing of it is
    paused, and its action's limit, if any, admits it. If not, its message
    waits (the caller stops there)."""
    if (unit.saga.paused or unit.pauses) and hold_if_paused(unit, step, kind, action, attempt):
        return False
    if kind == EXECUTE and step.timeout is not None and step.timeout_at is None:
        # Its message was held: its attempt's time starts now it runs.
        step.timeout_at = clock.later(step.timeout)
        unit.save_step(step, ["timeout_at"])
    if limit is None:
        return True
    if not admit(unit, step, kind, action, limit, attempt):
        return False
    TALLY.count(kind, action)
    return True


def hold_if_paused(unit: Unit, step: SagaStep, kind: str, action: str, attempt: int) -> bool:
    """Hold the message of the ``kind`` handler of ``step`` if its saga, its
    saga's name or ``action`` is paused (True: the caller stops there)."""
    saga = unit.saga
    pause_id, what = None, "the saga"
    if not saga.paused:
        pause = _pause_of(unit.active_pauses() if unit.pauses else [], saga.name, action)
        if pause is None:
            return False
        pause_id, what = pause.pk, f"{pause.get_scope_display()} {pause.pattern}"
    message = StepMessage(kind, saga.pk, step.pk, attempt)
    hold(unit, step, message, action, paused=True, pause_id=pause_id)
    logger.info("Holding the %s of saga=%s step=%s: %s is paused", kind, saga.pk, step.name, what)
    return True


def _pause_of(pauses: list[Pause], name: str, action: str) -> Pause | None:
    """The pause in force that holds a run of ``action`` in a saga of ``name``."""
    for pause in pauses:
        subject = action if pause.scope == Scope.ACTION else name
        if fnmatch.fnmatchcase(subject, pause.pattern):
            return pause
    return None


def hold(
    unit: Unit,
    step: SagaStep,
    message: StepMessage,
    action: str,
    key: str = "",
    paused: bool = False,
    pause_id: int | None = None,
) -> None:
    """Hold ``message`` with its attempt's clock stopped: the attempt starts
    again, whole, once the message is released or sent again."""
    unit.hold_message(message, action, key, paused, pause_id)
    if message.kind == EXECUTE and step.timeout_at is not None:
        step.timeout_at = None
        unit.save_step(step, ["timeout_at"])


def admit(unit: Unit, step: SagaStep, kind: str, action: str, limit: Limit, attempt: int) -> bool:
    """Whether the ``kind`` handler of ``step`` may run now; if not, its
    message waits for its turn or for a slot (the caller stops there)."""
    saga = unit.saga
    if unit.released is not None:
        return True  # it had its turn, and its slot came with it
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
    hold(unit, step, StepMessage(kind, saga.pk, step.pk, attempt), action, gate.key)
    logger.debug(
        "Holding the %s of saga=%s step=%s: no slot of %s free (%s)",
        kind,
        saga.pk,
        step.name,
        gate.describe(),
        limit.describe(),
    )
    return False
