"""Sleep steps: a saga waits for a time, at no cost while it waits.

``Sleep("cool_off", timedelta(days=3))`` is a step with no handler. When it
starts, the engine works out when it wakes (``wake_time``), keeps that time
on the step's row and writes its next message to the outbox, due then: no
thread and no held message wait for it, and whichever engine's relay is up
publishes it when it comes due (the sweeper wakes it too, should that
message be lost). Its time is given as a duration (counted from when the
step starts) or a time, or read when it starts from the saga's context or an
earlier step's output.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import validation
from .errors import SagaDefinitionError, brief
from .models import SLEEP_ACTION, Saga, SagaStep
from .references import read, reference
from .steps import Step

#: The input keys of a sleep step: one of them says how long it sleeps.
SECONDS = "seconds"
UNTIL = "until"
SECONDS_FROM = "seconds_from"
UNTIL_FROM = "until_from"
_KEYS = (SECONDS, UNTIL, SECONDS_FROM, UNTIL_FROM)


def Sleep(
    name: str,
    delay: timedelta | float | str | None = None,
    *,
    until: datetime | str | None = None,
) -> Step:
    """A step that waits, then completes: for ``delay`` (a ``timedelta`` or
    seconds, counted from when the step starts) or ``until`` a time.

    Either may instead be a reference read when the step starts:
    ``"context.return_days"`` (a key of the saga's context, dots going
    deeper) or ``"ship.window_ends"`` (a key of the output of the earlier
    step ``ship``); a delay read so is seconds, a time an ISO 8601 string
    with its offset. A sleep has nothing to undo; a saga compensated while
    it sleeps cancels it, and an operator may wake it early.
    """
    if (delay is None) == (until is None):
        raise SagaDefinitionError(
            f"Sleep {brief(name)} takes a delay or an until, exactly one of them"
        )
    where = f"Sleep {brief(name)}"
    sleep_input: dict[str, Any]
    if isinstance(delay, str):
        sleep_input = {SECONDS_FROM: reference(delay, f"{where} delay")}
    elif isinstance(until, str):
        sleep_input = {UNTIL_FROM: reference(until, f"{where} until")}
    elif until is not None:
        if not isinstance(until, datetime) or until.utcoffset() is None:
            raise SagaDefinitionError(
                f"{where} until must be a timezone-aware datetime or a reference, "
                f"got {brief(until)}"
            )
        sleep_input = {UNTIL: until.isoformat()}
    else:
        span = delay.total_seconds() if isinstance(delay, timedelta) else delay
        sleep_input = {SECONDS: validation.seconds(span, f"{where} delay", allow_none=False)}
    return Step(name, SLEEP_ACTION, "", sleep_input)


def check(step: Step) -> None:
    """Refuse a sleep step whose input cannot say when it wakes (a step
    declared as a dict names the sleep action itself)."""
    where = f"Sleep {brief(step.name)}"
    given = [key for key in _KEYS if key in step.input]
    if len(given) != 1 or set(step.input) - set(_KEYS):
        raise SagaDefinitionError(
            f"{where} needs exactly one of {', '.join(_KEYS)} in its input, "
            f"got {', '.join(sorted(map(str, step.input))) or 'none'}"
        )
    if step.compensation:
        raise SagaDefinitionError(f"{where} has nothing to undo: it takes no compensation")
    (key,) = given
    value = step.input[key]
    if key == SECONDS:
        validation.seconds(value, f"{where} delay", allow_none=False)
    elif key == UNTIL:
        _datetime(value, f"{where} until")
    else:
        reference(value, f"{where} {key}")


def wake_time(saga: Saga, step: SagaStep, now: datetime) -> datetime:
    """When ``step``, a sleep starting now, wakes: read from its input (and
    the saga it names); bounded like every time. Raises
    ``SagaDefinitionError`` naming what is missing or wrong."""
    where = f"sleep step {step.name!r}"
    given = [key for key in _KEYS if key in step.input]
    if len(given) != 1:
        raise SagaDefinitionError(
            f"{where} needs exactly one of {', '.join(_KEYS)} in its input, "
            f"got {', '.join(sorted(step.input)) or 'none'}"
        )
    (key,) = given
    value = step.input[key]
    if key in (SECONDS_FROM, UNTIL_FROM):
        value = read(saga, reference(value, f"{where} {key}"), where)
    started = step.started_at or now
    if key in (SECONDS, SECONDS_FROM):
        span = validation.seconds(value, f"{where} delay", allow_none=False)
        assert span is not None
        return started + timedelta(seconds=span)
    at = _datetime(value, f"{where} until")
    woken = validation.when(at, f"{where} until", now)
    assert woken is not None
    return woken


def _datetime(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise SagaDefinitionError(
                f"{field} must be an ISO 8601 time with its offset, got {brief(value)}"
            ) from exc
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise SagaDefinitionError(f"{field} must be a time with its offset, got {brief(value)}")
    return value
