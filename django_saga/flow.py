"""The saga state machine: what happens after a step succeeds, fails or is undone.

Every function here runs inside one unit of work (see ``stores.base.Unit``):
the changes it makes and the messages it sends commit together.
"""

from __future__ import annotations

from django.utils import timezone

from .errors import InvalidStateTransition
from .messages import COMPENSATE, EXECUTE
from .models import TERMINAL_STATES, SagaState, SagaStep, StepStatus
from .stores.base import Unit


def dispatch(unit: Unit, step: SagaStep) -> None:
    """Send ``step`` its execute message."""
    step.status = StepStatus.STARTED
    step.attempts += 1
    step.started_at = timezone.now()
    unit.save_step(step, ["status", "attempts", "started_at"])
    unit.send(EXECUTE, step, step.attempts)


def start(unit: Unit) -> None:
    dispatch(unit, unit.lock_saga()[0])


def step_succeeded(unit: Unit, step: SagaStep, output: dict, duration_ms: int) -> None:
    step.status = StepStatus.COMPLETED
    step.output = output
    step.error = ""
    step.executed_at = timezone.now()
    step.duration_ms = duration_ms
    unit.save_step(step, ["status", "output", "error", "executed_at", "duration_ms"])
    steps = unit.lock_saga()
    following = next((s for s in steps if s.position > step.position), None)
    if following is not None:
        dispatch(unit, following)
    else:
        saga = unit.saga
        saga.state = SagaState.COMPLETED
        saga.completed_at = timezone.now()
        unit.save_saga(["state", "completed_at"])


def step_failed(
    unit: Unit, step: SagaStep, error: str, duration_ms: int, auto_compensate: bool
) -> None:
    step.status = StepStatus.FAILED
    step.error = error
    step.executed_at = timezone.now()
    step.duration_ms = duration_ms
    unit.save_step(step, ["status", "output", "error", "executed_at", "duration_ms"])
    unit.lock_saga()
    saga = unit.saga
    saga.error = f"step {step.name!r} failed: {error}"
    if auto_compensate:
        begin_compensation(unit)
    else:
        saga.state = SagaState.FAILED
        unit.save_saga(["state", "error"])


def begin_compensation(unit: Unit) -> None:
    """Cancel what has not run yet and undo what has, last step first."""
    for step in unit.lock_saga():
        if step.status in (StepStatus.PENDING, StepStatus.STARTED):
            step.status = StepStatus.CANCELLED
            unit.save_step(step, ["status"])
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
            step.compensation_attempts += 1
            unit.save_step(step, ["status", "compensation_attempts"])
            unit.send(COMPENSATE, step, step.compensation_attempts)
            unit.save_saga(["state", "error"])
            return
        # Nothing to undo: the step declared no compensation.
        step.status = StepStatus.COMPENSATED
        step.compensated_at = timezone.now()
        unit.save_step(step, ["status", "compensated_at"])
    saga.state = SagaState.COMPENSATED
    saga.completed_at = timezone.now()
    unit.save_saga(["state", "error", "completed_at"])


def compensation_succeeded(unit: Unit, step: SagaStep) -> None:
    step.status = StepStatus.COMPENSATED
    step.compensated_at = timezone.now()
    unit.save_step(step, ["status", "compensated_at"])
    continue_compensation(unit)


def compensation_failed(unit: Unit, step: SagaStep, error: str) -> None:
    step.status = StepStatus.COMPENSATION_FAILED
    step.error = error
    unit.save_step(step, ["status", "error"])
    unit.lock_saga()
    saga = unit.saga
    saga.state = SagaState.COMPENSATION_FAILED
    saga.error = f"compensation of step {step.name!r} failed: {error}"
    unit.save_saga(["state", "error"])


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
            unit.save_step(step, ["status"])
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
        saga.completed_at = timezone.now()
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
    saga.completed_at = timezone.now() if state in TERMINAL_STATES else None
    unit.save_saga(["state", "completed_at"])
