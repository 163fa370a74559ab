"""A sleep step's messages: start sleeping, wake when the time comes, or be
woken early by an operator (see ``django_saga.sleeps``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .. import clock
from ..errors import SagaDefinitionError
from ..messages import EXECUTE
from ..models import FORWARD_STATES, SagaStep
from ..sleeps import wake_time
from .forward import step_cancelled, step_failed, step_succeeded
from .history import CANCELLED, COMPLETED, EARLY, FAILED, OPERATOR, SLEEPING, WOKEN, record

if TYPE_CHECKING:
    from ..stores.base import Unit


def sleep_message(unit: Unit, step: SagaStep) -> str:
    """Act on the message of a sleep step of a saga going forward, and say
    what came of it (a history outcome, or ``EARLY``).

    Its first message works out when it wakes and, unless that time has
    come, sends the next one due then. A message at or after that time
    wakes it. A copy that comes early (a redelivery of the first) changes
    nothing: the message due later is in the outbox.
    """
    now = clock.now()
    if step.timeout_at is None:
        try:
            wake = wake_time(unit.saga, step, now)
        except SagaDefinitionError as exc:
            error = f"{type(exc).__name__}: {exc}"
            record(step, EXECUTE, step.attempts, FAILED, 0, error)
            step_failed(unit, step, error, 0)
            return FAILED
        if wake > now:
            # Under the saga's lock: a sibling that turns the saga back either
            # sees this sleep (and wakes it) or is seen here.
            unit.lock_saga()
            if unit.saga.state not in FORWARD_STATES:
                step_cancelled(unit, step)
                return CANCELLED
            sleep_until(unit, step, wake)
            return SLEEPING
        step.timeout_at = wake
    elif step.timeout_at > now:
        return EARLY
    woke(unit, step)
    return COMPLETED


def sleep_until(unit: Unit, step: SagaStep, wake: datetime) -> None:
    """A sleep step starts sleeping: its wake time on its row, and its next
    message in the outbox, due then (no thread, no held message)."""
    step.timeout_at = wake
    record(step, EXECUTE, step.attempts, SLEEPING, 0, note={"until": wake.isoformat()})
    unit.save_step(step, ["timeout_at", "history"])
    unit.send(EXECUTE, step, step.attempts, max((wake - clock.now()).total_seconds(), 0.001))
    unit.touch()


def woke(unit: Unit, step: SagaStep, note: dict | None = None) -> None:
    """A sleep step's time came, or (``note``: who and why) an operator woke
    it early: it completes, and the saga goes on."""
    now = clock.now()
    until = min(step.timeout_at or now, now)
    if note is not None:
        record(step, OPERATOR, step.attempts, WOKEN, note=note)
    else:
        record(step, EXECUTE, step.attempts, COMPLETED, 0)
    step_succeeded(unit, step, {"slept_until": until.isoformat()}, step.duration_ms or 0)
