"""Going forward: dispatch a stage, record what a step did, decide what follows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import clock, signals
from ..conf import saga_settings
from ..errors import StaleResult, StepNotWaiting
from ..messages import COMPENSATE, EXECUTE
from ..models import DONE, IN_FLIGHT, SagaState, SagaStep, StepStatus
from ..outcomes import COMPLETE, FAIL
from .backward import begin_compensation, continue_compensation
from .dispatch import dispatch
from .history import COMPLETED, FAILED, OUTSIDE, on_timeout, pivot_passed, record
from .items import item_failed, mapped, next_items, settle_map
from .parents import tell_parent
from .queues import saga_finished

if TYPE_CHECKING:
    from ..stores.base import Unit


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
    steps = {s.pk: s for s in unit.saga.steps}
    for map_step in mapped(list(steps.values())):
        for item in unit.items(map_step, [StepStatus.STARTED, StepStatus.COMPENSATING]):
            steps[item.pk] = item
    for step in steps.values():
        if step.pk in relayed:
            continue
        if step.status == StepStatus.STARTED:
            unit.send(EXECUTE, step, step.attempts)
        elif step.status == StepStatus.COMPENSATING:
            unit.send(COMPENSATE, step, step.compensation_attempts)


def step_succeeded(unit: Unit, step: SagaStep, output: dict, duration_ms: int) -> None:
    finish_step(unit, step, StepStatus.COMPLETED, output, duration_ms)
    unit.notify(signals.step_completed, step)
    advance(unit)


def step_skipped(unit: Unit, step: SagaStep, duration_ms: int) -> None:
    """The handler returned ``Skip``: the step is done, with nothing to undo."""
    finish_step(unit, step, StepStatus.SKIPPED, {}, duration_ms)
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


def finish_step(unit: Unit, step: SagaStep, status: str, output: dict, duration_ms: int) -> None:
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
    while unfinished and unfinished[0].is_map and unfinished[0].status != StepStatus.PENDING:
        head = unfinished[0]
        if not settle_map(unit, head):
            # Its items are on their way: the next of them, as others end.
            for item in next_items(unit, head):
                dispatch(unit, item)
            unit.touch()
            return
        unfinished.pop(0)
    if not unfinished:
        saga.state = SagaState.COMPLETED
        saga.completed_at = clock.now()
        unit.save_saga_fields(["state", "completed_at"])
        unit.notify(signals.saga_completed)
        saga_finished(unit)
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
    if step.is_item and item_failed(unit, step, error):
        advance(unit)  # its map tolerates it
        return
    saga.error = f"step {step.name!r} failed: {error}"
    unit.notify(signals.saga_failed)
    pivot = pivot_passed(unit.lock_saga())
    if pivot is not None:
        # Past the point of no return: forward only, and an operator decides how.
        saga.state = SagaState.HALTED
        saga.error = f"step {step.name!r} failed after pivot step {pivot.name!r} completed: {error}"
        unit.save_saga_fields(["state", "error"])
        unit.notify(signals.saga_halted)
        tell_parent(unit)
    elif saga_settings.AUTO_COMPENSATE:
        # Siblings still running may hold their rows: they finish first.
        begin_compensation(unit, cancel_in_flight=False)
    else:
        saga.state = SagaState.FAILED
        unit.save_saga_fields(["state", "error"])
        tell_parent(unit)


def outside_result(
    unit: Unit,
    step: SagaStep,
    outcome: str,
    output: dict | None,
    error: str,
    attempt: int | None = None,
    by_task: bool = False,
) -> bool:
    """Record the result (``completed`` or ``failed``) an outside service
    reported for a waiting step (``by_task``: a person's answer to its task).

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
    if step.is_map or step.is_child:
        raise StepNotWaiting(
            f"Step {step.name!r} of saga {step.saga_id} is a "
            f"{'map stage' if step.is_map else 'child step'}: it completes when its "
            f"{'items do' if step.is_map else 'child saga does'}, never by an outside result"
        )
    if step.is_task and not by_task:
        raise StepNotWaiting(
            f"Step {step.name!r} of saga {step.saga_id} is a task: a person answers it "
            "through the task (manager.complete_task or reject_task), never by an outside result"
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


def wait_ran_out(unit: Unit, step: SagaStep, error: str) -> bool:
    """A waiting step's time ran out with no result: complete it or fail it
    at once if its ``Pending`` said so. False: it said ``"retry"``, and the
    attempt fails like any other (the caller applies the retry policy)."""
    policy, timeout_output = on_timeout(step)
    if policy == COMPLETE:
        record(step, EXECUTE, step.attempts, COMPLETED, 0, reason=f"{error}: completed as declared")
        step_succeeded(unit, step, {**step.output, **timeout_output}, step.duration_ms or 0)
        return True
    if policy == FAIL:
        record(step, EXECUTE, step.attempts, FAILED, 0, error)
        step_failed(unit, step, error, step.duration_ms or 0)
        return True
    return False
