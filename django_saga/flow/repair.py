"""An operator's repairs of a failed step: run it again, or skip it; then
the saga goes forward again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import signals
from ..messages import EXECUTE
from ..models import DONE, SagaState, SagaStep, StepStatus
from .dispatch import dispatch
from .forward import advance, finish_step
from .history import OPERATOR, RESUMED, SKIPPED_BY_HAND, record
from .items import mapped, reopen_map, tolerated
from .task_ends import cancel_tasks

if TYPE_CHECKING:
    from ..stores.base import Unit


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
    if step.is_item:
        reopen_map(unit, step)
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
    if step.is_item and was_failed:
        reopen_map(unit, step)
    if step.is_task:
        # The operator answered for whoever the task waited for.
        cancel_tasks(unit, step, str((note or {}).get("by", "")), "an operator skipped the step")
    record(step, OPERATOR, step.attempts, SKIPPED_BY_HAND, note=note)
    finish_step(unit, step, StepStatus.COMPLETED, output, step.duration_ms or 0)
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
    if any(s.status == StepStatus.FAILED for s in steps) or any(
        unit.count_items(m, [StepStatus.FAILED]) > tolerated(m)
        for m in mapped(steps)
        if m.status not in DONE
    ):
        unit.touch()
        return
    saga.state = SagaState.STARTED
    saga.error = ""
    for step in steps:
        if step.status == StepStatus.CANCELLED:
            dispatch(unit, step)
    unit.save_saga_fields(["state", "error"])
    advance(unit)
