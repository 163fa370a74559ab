"""The saga state machine: what happens after a step succeeds, fails or is undone.

Every function here runs inside one unit of work (see ``stores.base.Unit``):
the changes it makes and the messages it sends commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from . import clock, signals
from .conf import saga_settings
from .errors import InvalidStateTransition
from .messages import COMPENSATE, EXECUTE
from .models import TERMINAL_STATES, SagaState, SagaStep, StepStatus
from .stores.base import Unit


def dispatch(unit: Unit, step: SagaStep, delay: float = 0.0, also: Sequence[str] = ()) -> None:
    """Send ``step`` its next execute message, ``delay`` seconds from now.

    ``also`` names more step fields the caller changed, saved in the same update.
    """
    now = clock.now()
    step.status = StepStatus.STARTED
    step.attempts += 1
    step.started_at = now
    step.timeout_at = (
        now + timedelta(seconds=delay + step.timeout) if step.timeout is not None else None
    )
    unit.save_step(step, ["status", "attempts", "started_at", "timeout_at", *also])
    unit.send(EXECUTE, step, step.attempts, delay)


def start(unit: Unit) -> None:
    dispatch(unit, unit.lock_saga()[0])
    unit.notify(signals.saga_started)


def step_succeeded(unit: Unit, step: SagaStep, output: dict, duration_ms: int) -> None:
    step.status = StepStatus.COMPLETED
    step.output = output
    step.error = ""
    step.executed_at = clock.now()
    step.duration_ms = duration_ms
    step.timeout_at = None
    unit.save_step(
        step, ["status", "output", "error", "executed_at", "duration_ms", "timeout_at", "history"]
    )
    unit.notify(signals.step_completed, step)
    steps = unit.lock_saga()
    following = next((s for s in steps if s.position > step.position), None)
    if following is not None:
        dispatch(unit, following)
        unit.save_saga([])  # progress: updated_at moves, so the saga is not stale
    else:
        saga = unit.saga
        saga.state = SagaState.COMPLETED
        saga.completed_at = clock.now()
        unit.save_saga(["state", "completed_at"])
        unit.notify(signals.saga_completed)


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
    saga.error = f"step {step.name!r} failed: {error}"
    unit.notify(signals.saga_failed)
    if saga_settings.AUTO_COMPENSATE:
        begin_compensation(unit)
    else:
        saga.state = SagaState.FAILED
        unit.save_saga(["state", "error"])


def begin_compensation(unit: Unit) -> None:
    """Cancel what has not run yet and undo what has, last step first."""
    for step in unit.lock_saga():
        if step.status in (StepStatus.PENDING, StepStatus.STARTED):
            step.status = StepStatus.CANCELLED
            step.timeout_at = None
            unit.save_step(step, ["status", "timeout_at"])
    unit.saga.state = SagaState.COMPENSATING
    continue_compensation(unit)


def continue_compensation(unit: Unit) -> None:
    """Send the compensate message of the last completed step, or finish."""
    steps = unit.lock_saga()
    saga = unit.saga
    for step in reversed(steps):
        if step.status != StepStatus.COMPLETED:
            continue
        if step.compensation:
            step.status = StepStatus.COMPENSATING
            send_compensation(unit, step)
            unit.save_saga(["state", "error"])
            return
        # Nothing to undo: the step declared no compensation.
        step.status = StepStatus.COMPENSATED
        step.compensated_at = clock.now()
        unit.save_step(step, ["status", "compensated_at"])
        unit.notify(signals.step_compensated, step)
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
    saga.error = f"deadline {deadline.isoformat()} passed"
    begin_compensation(unit)
    return True


def resume_compensation(unit: Unit) -> None:
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
            step.history = [
                *step.history,
                {
                    "kind": "compensate",
                    "attempt": step.compensation_attempts,
                    "outcome": "resumed",
                    "at": clock.now().isoformat(),
                },
            ]
            unit.save_step(step, ["status", "history"])
    saga.state = SagaState.COMPENSATING
    continue_compensation(unit)


def set_step(unit: Unit, step: SagaStep, status: str, output: dict | None, error: str) -> None:
    """The spec's UpdateSagaStep: set one step by hand.

    The saga completes when every step is completed; any other derivation
    (failure, compensation) is the engine's to make.
    """
    if status not in StepStatus.values:
        raise ValueError(f"Unknown step status {status!r}; expected one of {StepStatus.values}")
    step.status = status
    step.error = error
    fields = ["status", "error"]
    if output is not None:
        step.output = output
        fields.append("output")
    unit.save_step(step, fields)
    steps = unit.lock_saga()
    saga = unit.saga
    if saga.state == SagaState.STARTED and all(s.status == StepStatus.COMPLETED for s in steps):
        saga.state = SagaState.COMPLETED
        saga.completed_at = clock.now()
        unit.save_saga(["state", "completed_at"])
    else:
        unit.save_saga([])


def set_state(unit: Unit, state: str) -> None:
    """The spec's UpdateSagaState: set the saga's state by hand."""
    if state not in SagaState.values:
        raise InvalidStateTransition(
            f"Unknown saga state {state!r}; expected one of {SagaState.values}"
        )
    saga = unit.saga
    saga.state = state
    saga.completed_at = clock.now() if state in TERMINAL_STATES else None
    unit.save_saga(["state", "completed_at"])
