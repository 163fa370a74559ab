"""An attempt of a step's handler or of its compensation: what differs
between the two kinds, how a result is checked, and how it is recorded.

The processor runs either kind through one skeleton (``Processor._run``,
``Processor.fail_attempt``); everything kind-specific is in ``AttemptKind``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from . import flow, validation
from .errors import NotJSONSerializableError
from .messages import COMPENSATE, EXECUTE, SETTLE, StepMessage
from .models import SagaStep, StepStatus
from .outcomes import FanOut, Pending, Skip
from .retry import StepTimeout

if TYPE_CHECKING:
    from .stores import Unit

logger = logging.getLogger("django_saga.engine")


def _output_of_attempt(result: Any, step: SagaStep, started: float) -> dict | None:
    """The output a handler's attempt saves (None: it skipped the step).

    Raises when the attempt cannot count: an output that is not a JSON
    object, or a run past the step's timeout.
    """
    output = None if isinstance(result, Skip) else output_of(result, step)
    elapsed = time.monotonic() - started
    if step.timeout is not None and elapsed > step.timeout:
        raise StepTimeout(f"attempt took {elapsed:.1f}s, over the step's {step.timeout:g}s timeout")
    return output


def _nothing_kept(result: Any, step: SagaStep, started: float) -> None:
    """A compensation's return value is not kept."""
    return None


def _execution_settled(
    unit: Unit, step: SagaStep, attempt: int, result: Any, output: dict | None, duration: int
) -> str:
    if isinstance(result, Skip):
        flow.record(step, EXECUTE, attempt, flow.SKIPPED, duration, reason=result.reason)
        flow.step_skipped(unit, step, duration)
        return flow.SKIPPED
    assert output is not None
    if isinstance(result, Pending):
        flow.record(step, EXECUTE, attempt, flow.WAITED, duration, note=result.when_timed_out())
        flow.step_waiting(unit, step, output, duration, result.timeout)
        return flow.WAITED
    flow.record(step, EXECUTE, attempt, flow.COMPLETED, duration)
    flow.step_succeeded(unit, step, output, duration)
    return flow.COMPLETED


def _compensation_settled(
    unit: Unit, step: SagaStep, attempt: int, result: Any, output: dict | None, duration: int
) -> str:
    flow.record(step, COMPENSATE, attempt, flow.COMPENSATED, duration)
    flow.compensation_succeeded(unit, step)
    return flow.COMPENSATED


def _execution_failed(
    unit: Unit, step: SagaStep, error: str, duration: int, retry_delay: float | None
) -> None:
    flow.step_failed(unit, step, error, duration, retry_delay)


def _compensation_failed(
    unit: Unit, step: SagaStep, error: str, duration: int, retry_delay: float | None
) -> None:
    flow.compensation_failed(unit, step, error, retry_delay)


class AttemptKind(NamedTuple):
    """What differs between an attempt of a step's handler and one of its compensation."""

    #: The kind its messages and history entries name: EXECUTE or COMPENSATE.
    name: str
    #: The action the step names for it.
    action: Callable[[SagaStep], str]
    #: The step's count of attempts of this kind.
    attempt: Callable[[SagaStep], int]
    #: What the handler returned, checked: the output to save, if any.
    #: Raises when the attempt cannot count (it is then a failed one).
    check: Callable[[Any, SagaStep, float], dict | None]
    #: Record in the saga an attempt that went through; returns its outcome.
    settle: Callable[[Unit, SagaStep, int, Any, dict | None, int], str]
    #: Record a failed attempt in the saga: tried again after a delay, or
    #: final (``retry_delay`` None).
    failed: Callable[[Unit, SagaStep, str, int, float | None], None]


EXECUTION = AttemptKind(
    EXECUTE,
    attrgetter("action"),
    attrgetter("attempts"),
    _output_of_attempt,
    _execution_settled,
    _execution_failed,
)
COMPENSATION = AttemptKind(
    COMPENSATE,
    attrgetter("compensation"),
    attrgetter("compensation_attempts"),
    _nothing_kept,
    _compensation_settled,
    _compensation_failed,
)


def attempt_kind(kind: str) -> AttemptKind:
    """The attempt kind a message of ``kind`` (EXECUTE or COMPENSATE) runs."""
    return EXECUTION if kind == EXECUTE else COMPENSATION


def resumed_at(step: SagaStep, kind: str) -> int:
    """The attempt of ``kind`` an operator last retried from (0 if never):
    a retry by hand gets the handler's whole retry budget again."""
    for entry in reversed(step.history):
        if entry.get("kind") == kind and entry.get("outcome") == flow.RESUMED:
            return int(entry["attempt"])
    return 0


def output_of(result: Any, step: SagaStep) -> dict:
    """A handler may return a dict or set ``step.output``; either way it must be JSON.

    ``Pending`` carries the output to keep while the step waits.
    """
    if isinstance(result, Pending):
        result = dict(result.output)
    elif isinstance(result, FanOut):
        result = result.as_output()
    elif result is None:
        result = step.output
    if not isinstance(result, dict):
        raise TypeError(
            f"handler for {step.action!r} returned {type(result).__name__}; "
            "return a dict, Pending, Skip, FanOut, or None after setting step.output"
        )
    try:
        return validation.to_json(result, f"output of step {step.name!r}")
    except NotJSONSerializableError as exc:
        if isinstance(exc.__cause__, TypeError):
            # A value of a type JSON has no room for: a TypeError, as the encoder said.
            raise TypeError(str(exc)) from exc
        # A value no database stores (a NUL, a lone surrogate, NaN, a cycle):
        # refused as it is, so that the step fails at once, even past the pivot,
        # instead of running the handler again to return the same value.
        raise


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, storable whatever the message holds."""
    try:
        message = str(exc)
    except Exception:  # an exception whose __str__ raises still gets recorded
        message = "(its message could not be read)"
    return validation.clean_error(f"{type(exc).__name__}: {message}")


def log_step(
    step: SagaStep,
    kind: AttemptKind,
    outcome: str,
    duration_ms: int,
    error: str = "",
    exc: BaseException | None = None,
) -> None:
    logger.log(
        logging.WARNING if error else logging.INFO,
        "saga=%s step=%s %s=%s outcome=%s duration_ms=%d%s",
        step.saga_id,
        step.name,
        kind.name,
        kind.action(step),
        outcome,
        duration_ms,
        f" error={error!r}" if error else "",
    )
    if exc is not None:
        logger.debug("Traceback of saga=%s step=%s", step.saga_id, step.name, exc_info=exc)


def awaits(step: SagaStep, message: StepMessage) -> bool:
    """Whether ``message`` is the one the step waits for (not a duplicate or stale)."""
    if message.kind == EXECUTE:
        return step.status == StepStatus.STARTED and step.attempts == message.attempt
    if message.kind == SETTLE:
        # A child's end: it matters while the step waits for its child.
        return step.is_child and step.status in (StepStatus.WAITING, StepStatus.COMPENSATING)
    return step.status == StepStatus.COMPENSATING and step.compensation_attempts == message.attempt


def log_stale(step: SagaStep, message: StepMessage) -> None:
    logger.debug(
        "Dropping a duplicate or stale %s message: saga=%s step=%s attempt=%d "
        "(step is %s, attempt %d)",
        message.kind,
        step.saga_id,
        step.name,
        message.attempt,
        step.status,
        step.attempts if message.kind == EXECUTE else step.compensation_attempts,
    )
