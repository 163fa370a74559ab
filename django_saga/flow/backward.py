"""Going backwards: cancel what has not run, undo what has, last stage first.

Whoever asks (a failed step, an operator, a passed deadline), the saga's
compensation runs through ``begin_compensation`` and ``continue_compensation``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import clock, signals
from ..errors import InvalidStateTransition
from ..messages import COMPENSATE, EXECUTE
from ..models import IN_FLIGHT, SagaState, SagaStep, StepStatus
from .history import CANCELLED, RESUMED, pivot_passed, record, to_undo
from .items import items_moving, items_to_undo, mapped
from .parents import tell_parent
from .queues import cancel_queued, saga_finished
from .task_ends import cancel_tasks

if TYPE_CHECKING:
    from ..stores.base import Unit

logger = logging.getLogger("django_saga.engine")


def begin_compensation(unit: Unit, cancel_in_flight: bool = True) -> None:
    """Cancel what has not run yet and undo what has, last stage first.

    ``cancel_in_flight`` also cancels dispatched and waiting steps: right for a
    unit that holds every step row (an operator, a deadline), where no engine
    can be running one; an engine's unit leaves them to finish or time out.
    """
    steps = unit.lock_saga()
    cancelled = (StepStatus.PENDING, *IN_FLIGHT) if cancel_in_flight else (StepStatus.PENDING,)
    # Child steps still waiting are recalled, and tasks still waiting for a
    # person cancelled, whoever asks: nothing ends their wait otherwise.
    reached = (*cancelled, StepStatus.WAITING)
    for step in [*steps, *(i for m in mapped(steps) for i in unit.items(m, reached))]:
        if step.is_child and step.status == StepStatus.WAITING:
            _recall_child(unit, step)
        elif step.status in cancelled or (step.is_task and step.status == StepStatus.WAITING):
            if step.is_task:
                cancel_tasks(unit, step, reason="the saga went back")
            fields = ["status", "timeout_at"]
            if step.status in IN_FLIGHT:
                # Its attempt ends here: the history says so (and, for a
                # step that waited, why its compensation runs).
                record(step, EXECUTE, step.attempts, CANCELLED, 0)
                fields.append("history")
            step.status = StepStatus.CANCELLED
            step.timeout_at = None
            unit.save_step(step, fields)
        elif step.sleeping_until is not None:
            # A sleep left to finish would hold the compensation until it
            # wakes: a message now wakes it, to find the saga going back.
            unit.send(EXECUTE, step, step.attempts)
    unit.saga.state = SagaState.COMPENSATING
    continue_compensation(unit)


def _recall_child(unit: Unit, step: SagaStep) -> None:
    """A child step whose saga still runs, its parent going back: have the
    child compensate (its parent-close policy ``compensate``), or leave it
    alone (``abandon``) and cancel the step."""
    record(step, EXECUTE, step.attempts, CANCELLED, 0)
    step.timeout_at = None
    if step.compensation:
        step.status = StepStatus.COMPENSATING
        send_compensation(unit, step, also=["history", "timeout_at"])
        return
    step.status = StepStatus.CANCELLED
    unit.save_step(step, ["status", "timeout_at", "history"])


def continue_compensation(unit: Unit, delay: float = 0.0) -> None:
    """Compensate the last stage with completed steps, all of it at once, or finish.

    Waits while any step is still running, waiting or compensating: a stage is
    undone only when nothing after it can still change.
    """
    steps = unit.lock_saga()
    saga = unit.saga
    if (
        saga.state != SagaState.COMPENSATING
        or any(s.status in (*IN_FLIGHT, StepStatus.COMPENSATING) for s in steps)
        or items_moving(unit, steps)
    ):
        unit.save_saga_fields(["state", "error"])
        return
    while True:
        # A map's completed items are undone at its stage, before its own row.
        items = {m.position: items_to_undo(unit, m) for m in mapped(steps)}
        completed = [s for s in steps if to_undo(s) or items.get(s.position)]
        if not completed:
            break
        stage = max(s.stage for s in completed)
        sent = False
        for step in completed:
            if step.stage != stage:
                continue
            for undone in items.get(step.position) or [step]:
                sent = _undo(unit, undone, delay) or sent
        if sent:
            unit.save_saga_fields(["state", "error"])
            return
    saga.state = SagaState.COMPENSATED
    saga.completed_at = clock.now()
    unit.save_saga_fields(["state", "error", "completed_at"])
    unit.notify(signals.saga_compensated)
    saga_finished(unit)


def _undo(unit: Unit, step: SagaStep, delay: float) -> bool:
    """Send ``step`` its compensation (True), or mark it compensated at once
    when it declared none."""
    if step.compensation:
        step.status = StepStatus.COMPENSATING
        send_compensation(unit, step, delay)
        return True
    step.status = StepStatus.COMPENSATED
    step.compensated_at = clock.now()
    unit.save_step(step, ["status", "compensated_at"])
    unit.notify(signals.step_compensated, step)
    return False


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
    unit.save_saga_fields(["state", "error"])
    unit.notify(signals.saga_compensation_failed)
    tell_parent(unit)


def request_compensation(unit: Unit) -> bool:
    """An operator asks to undo the saga. Returns False if it is already under way."""
    saga = unit.saga
    if saga.state == SagaState.COMPENSATING:
        return False
    if saga.state == SagaState.COMPENSATED:
        raise InvalidStateTransition(f"Saga {saga.pk} is already compensated")
    if saga.state == SagaState.QUEUED:
        cancel_queued(unit, "cancelled while queued for its key")
        return True
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
        unit.save_saga_fields(["deadline_at"])
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
    steps = unit.lock_saga()
    failed = [StepStatus.COMPENSATION_FAILED]
    for step in [*steps, *(i for m in mapped(steps) for i in unit.items(m, failed))]:
        if step.status == StepStatus.COMPENSATION_FAILED:
            step.status = StepStatus.COMPLETED
            # A resumed compensation gets its full retry budget again.
            record(step, COMPENSATE, step.compensation_attempts, RESUMED)
            unit.save_step(step, ["status", "history"])
    saga.state = SagaState.COMPENSATING
    continue_compensation(unit, delay)
