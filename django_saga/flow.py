"""The saga state machine: what happens after a step succeeds, fails or is undone.

Every function here runs inside one unit of work (see ``stores.base.Unit``):
the changes it makes and the messages it sends commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import clock, signals, validation
from .conf import saga_settings
from .errors import InvalidStateTransition, StaleResult, StepNotWaiting
from .messages import COMPENSATE, EXECUTE
from .models import DONE, IN_FLIGHT, SagaState, SagaStep, StepStatus

if TYPE_CHECKING:
    from .stores.base import Unit

logger = logging.getLogger("django_saga.engine")

# -- a step's history ----------------------------------------------------------
# A list of entries {"kind", "attempt", "outcome", "at", ...}, each appended by
# ``record``: the attempts of the step's handler and of its compensation (kinds
# EXECUTE and COMPENSATE, as their messages name them), results reported from
# outside, and operators' interventions.

#: The history kind of a result reported from outside (webhook, complete_step).
OUTSIDE = "outside"
#: The history kind of an operator's own entry.
OPERATOR = "operator"

#: The outcomes of an attempt.
COMPLETED = "completed"
#: The handler returned ``Skip``.
SKIPPED = "skipped"
#: The handler returned ``Pending``.
WAITED = "waiting"
RETRYING = "retrying"
FAILED = "failed"
COMPENSATED = "compensated"
#: The saga went back before the attempt ended (it was dispatched, or waited).
CANCELLED = "cancelled"
#: The outcome an operator's retry records: the step's retry budget starts again there.
RESUMED = "resumed"
#: The outcome of skipping a step by hand.
SKIPPED_BY_HAND = "skipped"


def record(
    step: SagaStep,
    kind: str,
    attempt: int,
    outcome: str,
    duration_ms: int | None = None,
    error: str = "",
    retry_in: float | None = None,
    reason: str = "",
    note: Mapping[str, object] | None = None,
) -> None:
    """Append one entry to the step's history (saved with the step's next update).

    ``duration_ms`` is an attempt's (an operator's entry has none); ``note``
    holds an operator's own fields (who asked, why). ``error`` and ``reason``
    are made storable (no NUL, bounded length): they come from handlers, and
    a text the database refuses must not lose the attempt.
    """
    entry: dict[str, object] = {
        "kind": kind,
        "attempt": attempt,
        "outcome": outcome,
        "at": clock.now().isoformat(),
    }
    if duration_ms is not None:
        entry["duration_ms"] = duration_ms
    if error:
        entry["error"] = validation.clean_error(error)
    if reason:
        entry["reason"] = validation.clean_error(reason)
    if retry_in is not None:
        entry["retry_in"] = round(retry_in, 3)
    if note:
        entry.update(note)
    step.history = [*step.history, entry]


def waited(step: SagaStep) -> bool:
    """Whether an attempt of ``step`` returned ``Pending``: its handler committed
    and started outside work, whatever became of the wait."""
    return any(
        e.get("kind") == EXECUTE and e.get("outcome") == WAITED
        for e in step.history
        if isinstance(e, dict)
    )


def wait_undone(step: SagaStep) -> bool:
    """Whether ``step`` waited and its wait ended without completing it, so it
    is undone for what its handler started (see ``to_undo``)."""
    completed = any(
        (e.get("kind") in (EXECUTE, OUTSIDE) and e.get("outcome") == COMPLETED)
        or (e.get("kind") == OPERATOR and e.get("outcome") == SKIPPED_BY_HAND)
        for e in step.history
        if isinstance(e, dict)
    )
    return waited(step) and not completed


def to_undo(step: SagaStep) -> bool:
    """Whether the saga's compensation must run ``step``'s compensation.

    A completed step, and a step whose wait ended without completing it (it
    timed out, the outside service reported a failure, an operator
    compensated the saga meanwhile): its handler ran and committed, so what
    it started may have happened. Its compensation gets the output it saved
    and must cope with nothing to undo. A step that failed without waiting
    left nothing: its writes rolled back with its attempt.
    """
    if step.status == StepStatus.COMPLETED:
        return True
    return (
        step.status in (StepStatus.FAILED, StepStatus.CANCELLED)
        and bool(step.compensation)
        and waited(step)
    )


def pivot_passed(steps: Sequence[SagaStep]) -> SagaStep | None:
    """The saga's pivot step if it is done: past it, nothing may be undone."""
    return next((s for s in steps if s.pivot and s.status in DONE), None)


def dispatch(unit: Unit, step: SagaStep, delay: float = 0.0, also: Sequence[str] = ()) -> None:
    """Send ``step`` its next execute message, ``delay`` seconds from now.

    ``also`` names more step fields the caller changed, saved in the same update.
    """
    now = clock.now()
    step.status = StepStatus.STARTED
    step.attempts += 1
    step.started_at = now
    step.timeout_at = None if step.timeout is None else clock.later(delay + step.timeout, now)
    unit.save_step(step, ["status", "attempts", "started_at", "timeout_at", *also])
    unit.send(EXECUTE, step, step.attempts, delay)


def resend_in_flight(unit: Unit) -> None:
    """Send again the message of every step of the saga that waits for one,
    unless a relay holds it (an outbox row not yet sent).

    For a redelivered message that finds its step already past it: the engine
    that processed it publishes the messages its unit caused only after
    commit, with no outbox row, and may have stopped before the broker
    confirmed them. What it sent is what the saga still waits for; a copy of
    a message that did arrive is dropped by the step it reaches.
    """
    relayed = unit.relayed_steps()
    for step in unit.saga.steps:
        if step.pk in relayed:
            continue
        if step.status == StepStatus.STARTED:
            unit.send(EXECUTE, step, step.attempts)
        elif step.status == StepStatus.COMPENSATING:
            unit.send(COMPENSATE, step, step.compensation_attempts)


def start(unit: Unit) -> None:
    steps = unit.lock_saga()
    first = steps[0].stage
    for step in steps:
        if step.stage == first:
            dispatch(unit, step)
    unit.notify(signals.saga_started)


def step_succeeded(unit: Unit, step: SagaStep, output: dict, duration_ms: int) -> None:
    _finish_step(unit, step, StepStatus.COMPLETED, output, duration_ms)
    unit.notify(signals.step_completed, step)
    advance(unit)


def step_skipped(unit: Unit, step: SagaStep, duration_ms: int) -> None:
    """The handler returned ``Skip``: the step is done, with nothing to undo."""
    _finish_step(unit, step, StepStatus.SKIPPED, {}, duration_ms)
    unit.notify(signals.step_skipped, step)
    advance(unit)


def step_waiting(
    unit: Unit, step: SagaStep, output: dict, duration_ms: int, timeout: float | None
) -> None:
    """The handler returned ``Pending``: the step waits for an outside result."""
    step.status = StepStatus.WAITING
    step.output = output
    step.error = ""
    step.executed_at = clock.now()
    step.duration_ms = duration_ms
    if timeout is not None:
        step.timeout_at = clock.later(timeout)
    unit.save_step(
        step, ["status", "output", "error", "executed_at", "duration_ms", "timeout_at", "history"]
    )
    unit.touch()
    unit.notify(signals.step_waiting, step)


def step_cancelled(unit: Unit, step: SagaStep) -> None:
    """A dispatched step of a saga that stopped going forward: it will not run."""
    step.status = StepStatus.CANCELLED
    step.timeout_at = None
    unit.save_step(step, ["status", "timeout_at"])
    advance(unit)


def _finish_step(unit: Unit, step: SagaStep, status: str, output: dict, duration_ms: int) -> None:
    step.status = status
    step.output = output
    step.error = ""
    step.executed_at = clock.now()
    step.duration_ms = duration_ms
    step.timeout_at = None
    unit.save_step(
        step, ["status", "output", "error", "executed_at", "duration_ms", "timeout_at", "history"]
    )


def advance(unit: Unit) -> None:
    """Decide, under the saga lock, what follows a step that finished.

    The fan-in of a parallel stage: the step that finishes its stage last
    sees its siblings done (each one committed before it got the saga lock)
    and dispatches the next stage; the others see a sibling still in flight
    and only record progress. Exactly one unit dispatches each stage.
    """
    steps = unit.lock_saga()
    saga = unit.saga
    if saga.state == SagaState.COMPENSATING:
        continue_compensation(unit)
        return
    if saga.state != SagaState.STARTED:
        unit.touch()
        return
    unfinished = [s for s in steps if s.status not in DONE]
    if not unfinished:
        saga.state = SagaState.COMPLETED
        saga.completed_at = clock.now()
        unit.save_saga(["state", "completed_at"])
        unit.notify(signals.saga_completed)
        return
    stage = unfinished[0].stage
    waiting_for = [s for s in unfinished if s.stage == stage]
    if not any(s.status in IN_FLIGHT for s in waiting_for):
        for following in waiting_for:
            if following.status == StepStatus.PENDING:
                dispatch(unit, following)
    unit.touch()


def step_failed(
    unit: Unit, step: SagaStep, error: str, duration_ms: int, retry_delay: float | None = None
) -> None:
    """Record a failed attempt: try again after ``retry_delay``, or fail the step."""
    step.error = error
    step.executed_at = clock.now()
    step.duration_ms = duration_ms
    fields = ["output", "error", "executed_at", "duration_ms", "history"]
    if retry_delay is not None:
        dispatch(unit, step, retry_delay, also=fields)
        return
    step.status = StepStatus.FAILED
    step.timeout_at = None
    unit.save_step(step, [*fields, "status", "timeout_at"])
    unit.notify(signals.step_failed, step)
    unit.lock_saga()
    saga = unit.saga
    if saga.state != SagaState.STARTED:
        # A sibling in the same stage failed first: its failure decided the saga.
        advance(unit)
        return
    saga.error = f"step {step.name!r} failed: {error}"
    unit.notify(signals.saga_failed)
    pivot = pivot_passed(unit.lock_saga())
    if pivot is not None:
        # Past the point of no return: forward only, and an operator decides how.
        saga.state = SagaState.HALTED
        saga.error = f"step {step.name!r} failed after pivot step {pivot.name!r} completed: {error}"
        unit.save_saga(["state", "error"])
        unit.notify(signals.saga_halted)
    elif saga_settings.AUTO_COMPENSATE:
        # Siblings still running may hold their rows: they finish first.
        begin_compensation(unit, cancel_in_flight=False)
    else:
        saga.state = SagaState.FAILED
        unit.save_saga(["state", "error"])


def begin_compensation(unit: Unit, cancel_in_flight: bool = True) -> None:
    """Cancel what has not run yet and undo what has, last stage first.

    ``cancel_in_flight`` also cancels dispatched and waiting steps: right for a
    unit that holds every step row (an operator, a deadline), where no engine
    can be running one; an engine's unit leaves them to finish or time out.
    """
    for step in unit.lock_saga():
        if step.status == StepStatus.PENDING or (cancel_in_flight and step.status in IN_FLIGHT):
            fields = ["status", "timeout_at"]
            if step.status in IN_FLIGHT:
                # Its attempt ends here: the history says so (and, for a
                # step that waited, why its compensation runs).
                record(step, EXECUTE, step.attempts, CANCELLED, 0)
                fields.append("history")
            step.status = StepStatus.CANCELLED
            step.timeout_at = None
            unit.save_step(step, fields)
    unit.saga.state = SagaState.COMPENSATING
    continue_compensation(unit)


def continue_compensation(unit: Unit, delay: float = 0.0) -> None:
    """Compensate the last stage with completed steps, all of it at once, or finish.

    Waits while any step is still running, waiting or compensating: a stage is
    undone only when nothing after it can still change.
    """
    steps = unit.lock_saga()
    saga = unit.saga
    if saga.state != SagaState.COMPENSATING or any(
        s.status in (*IN_FLIGHT, StepStatus.COMPENSATING) for s in steps
    ):
        unit.save_saga(["state", "error"])
        return
    while True:
        completed = [s for s in steps if to_undo(s)]
        if not completed:
            break
        stage = max(s.stage for s in completed)
        sent = False
        for step in completed:
            if step.stage != stage:
                continue
            if step.compensation:
                step.status = StepStatus.COMPENSATING
                send_compensation(unit, step, delay)
                sent = True
            else:
                # Nothing to undo: the step declared no compensation.
                step.status = StepStatus.COMPENSATED
                step.compensated_at = clock.now()
                unit.save_step(step, ["status", "compensated_at"])
                unit.notify(signals.step_compensated, step)
        if sent:
            unit.save_saga(["state", "error"])
            return
    saga.state = SagaState.COMPENSATED
    saga.completed_at = clock.now()
    unit.save_saga(["state", "error", "completed_at"])
    unit.notify(signals.saga_compensated)


def send_compensation(
    unit: Unit, step: SagaStep, delay: float = 0.0, also: Sequence[str] = ()
) -> None:
    step.compensation_attempts += 1
    unit.save_step(step, ["status", "compensation_attempts", *also])
    unit.send(COMPENSATE, step, step.compensation_attempts, delay)


def compensation_succeeded(unit: Unit, step: SagaStep) -> None:
    step.status = StepStatus.COMPENSATED
    step.compensated_at = clock.now()
    unit.save_step(step, ["status", "compensated_at", "history"])
    unit.notify(signals.step_compensated, step)
    continue_compensation(unit)


def compensation_failed(
    unit: Unit, step: SagaStep, error: str, retry_delay: float | None = None
) -> None:
    """Record a failed compensation attempt: retry it, or stop the saga for an operator."""
    step.error = error
    if retry_delay is not None:
        send_compensation(unit, step, retry_delay, also=["error", "history"])
        return
    step.status = StepStatus.COMPENSATION_FAILED
    unit.save_step(step, ["status", "error", "history"])
    unit.lock_saga()
    saga = unit.saga
    if saga.state == SagaState.COMPENSATION_FAILED:
        # A sibling of the same stage failed first: the saga already says so.
        unit.touch()
        return
    saga.state = SagaState.COMPENSATION_FAILED
    saga.error = f"compensation of step {step.name!r} failed: {error}"
    unit.save_saga(["state", "error"])
    unit.notify(signals.saga_compensation_failed)


def request_compensation(unit: Unit) -> bool:
    """An operator asks to undo the saga. Returns False if it is already under way."""
    saga = unit.saga
    if saga.state == SagaState.COMPENSATING:
        return False
    if saga.state == SagaState.COMPENSATED:
        raise InvalidStateTransition(f"Saga {saga.pk} is already compensated")
    pivot = pivot_passed(unit.lock_saga())
    if pivot is not None:
        raise InvalidStateTransition(past_pivot_refusal(saga.pk, pivot))
    if saga.state == SagaState.COMPENSATION_FAILED:
        resume_compensation(unit)
        return True
    if not saga.error:
        saga.error = f"compensation requested while {saga.state}"
    begin_compensation(unit)
    return True


def deadline_passed(unit: Unit) -> bool:
    """Compensate a started saga whose deadline has passed; False if nothing to do."""
    saga = unit.saga
    deadline = saga.deadline_at
    if saga.state != SagaState.STARTED or deadline is None or deadline > clock.now():
        return False
    pivot = pivot_passed(unit.lock_saga())
    if pivot is not None:
        # A deadline can only compensate, and past the pivot nothing may be
        # undone: it no longer applies, so the sweeper stops finding the saga.
        logger.info(
            "saga=%s deadline %s passed after pivot step %r: the saga goes on forward",
            saga.pk,
            deadline.isoformat(),
            pivot.name,
        )
        saga.deadline_at = None
        unit.save_saga(["deadline_at"])
        return False
    saga.error = f"deadline {deadline.isoformat()} passed"
    begin_compensation(unit)
    return True


def past_pivot_refusal(saga_id: str, pivot: SagaStep) -> str:
    return (
        f"Saga {saga_id} is past its pivot step {pivot.name!r}: what it did cannot be "
        "undone, so it cannot be compensated; retry or skip the failed step instead"
    )


def resume_compensation(unit: Unit, delay: float = 0.0) -> None:
    """Try again the compensations that failed, then carry on backwards."""
    saga = unit.saga
    if saga.state != SagaState.COMPENSATION_FAILED:
        raise InvalidStateTransition(
            f"Saga {saga.pk} is {saga.state}; only a saga in compensation_failed can be resumed"
        )
    for step in unit.lock_saga():
        if step.status == StepStatus.COMPENSATION_FAILED:
            step.status = StepStatus.COMPLETED
            # A resumed compensation gets its full retry budget again.
            record(step, COMPENSATE, step.compensation_attempts, RESUMED)
            unit.save_step(step, ["status", "history"])
    saga.state = SagaState.COMPENSATING
    continue_compensation(unit, delay)


def retry_step(
    unit: Unit,
    step: SagaStep,
    new_input: dict | None,
    delay: float = 0.0,
    note: dict | None = None,
) -> None:
    """Run a failed step again (with ``new_input`` if given), its retry budget
    renewed, and go forward once no other step of the saga is failed.

    ``note`` (who asked, why) goes on the step's history entry.
    """
    fields = ["history"]
    if new_input is not None:
        step.input = new_input
        fields.append("input")
    if new_input is not None:
        note = {"input_changed": True, **(note or {})}
    record(step, EXECUTE, step.attempts, RESUMED, note=note)
    dispatch(unit, step, delay, also=fields)
    resume_forward(unit)


def skip_step(unit: Unit, step: SagaStep, output: dict, note: dict | None = None) -> None:
    """Record a failed or waiting step as completed by hand, with ``output``.

    Its compensation still runs if the saga is undone later: the operator
    says its effect happened.
    """
    was_failed = step.status == StepStatus.FAILED
    record(step, OPERATOR, step.attempts, SKIPPED_BY_HAND, note=note)
    _finish_step(unit, step, StepStatus.COMPLETED, output, step.duration_ms or 0)
    unit.notify(signals.step_completed, step)
    if was_failed:
        resume_forward(unit)
    else:
        advance(unit)


def resume_forward(unit: Unit) -> None:
    """The saga goes forward again, unless another of its steps is still failed.

    A step cancelled while the saga waited is dispatched again, or its
    stage could never finish. (Engines now let dispatched steps of a
    waiting saga run; sagas that failed under older ones may hold such steps.)
    """
    steps = unit.lock_saga()
    saga = unit.saga
    if any(s.status == StepStatus.FAILED for s in steps):
        unit.touch()
        return
    saga.state = SagaState.STARTED
    saga.error = ""
    for step in steps:
        if step.status == StepStatus.CANCELLED:
            dispatch(unit, step)
    unit.save_saga(["state", "error"])
    advance(unit)


def outside_result(
    unit: Unit,
    step: SagaStep,
    outcome: str,
    output: dict | None,
    error: str,
    attempt: int | None = None,
) -> bool:
    """Record the result (``completed`` or ``failed``) an outside service
    reported for a waiting step.

    ``attempt`` is the attempt the result answers (None: the current one).
    Returns False for a repeat of a result already recorded for that attempt,
    so callers can answer it without changing anything. Raises ``StaleResult``
    for a result of another attempt (one retried since, say) and
    ``StepNotWaiting`` for any other step that is not waiting.
    """
    answers = step.attempts if attempt is None else attempt
    if any(
        e.get("kind") == OUTSIDE and e.get("outcome") == outcome and e.get("attempt") == answers
        for e in step.history
    ):
        return False
    if answers != step.attempts:
        raise StaleResult(
            f"Step {step.name!r} of saga {step.saga_id} is on attempt {step.attempts}; "
            f"a result for attempt {answers} is refused"
        )
    if step.status != StepStatus.WAITING:
        raise StepNotWaiting(
            f"Step {step.name!r} of saga {step.saga_id} is {step.status}, "
            "not waiting for an outside result"
        )
    duration = (
        int((clock.now() - step.executed_at).total_seconds() * 1000) if step.executed_at else 0
    )
    record(step, OUTSIDE, step.attempts, outcome, duration, error)
    if outcome == StepStatus.COMPLETED:
        merged = {**step.output, **(output or {})}
        step_succeeded(unit, step, merged, (step.duration_ms or 0) + duration)
    else:
        step_failed(unit, step, error or "failed by an outside service", step.duration_ms or 0)
    return True
