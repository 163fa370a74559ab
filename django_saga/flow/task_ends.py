"""The end of a step's live tasks: answered, escalated away, or cancelled
because the saga went back or an operator acted on the step first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.dispatch import Signal

from .. import clock, signals
from ..models import SagaStep, SagaTask, TaskState

if TYPE_CHECKING:
    from ..stores.base import Unit

#: The signal each way a task ends sends.
END_SIGNALS: dict[str, Signal] = {
    TaskState.COMPLETED: signals.task_completed,
    TaskState.REJECTED: signals.task_rejected,
    TaskState.CANCELLED: signals.task_cancelled,
}


def end_task(unit: Unit, task: SagaTask, state: str, by: str = "", reason: str = "") -> None:
    """``task`` ends in ``state`` (who and why, if a person): no longer
    offered to anyone; its signal goes after the commit."""
    task.state = state
    task.done_at = clock.now()
    task.done_by = by
    task.reason = reason
    unit.save_task(task, ["state", "done_at", "done_by", "reason"], offers=[])
    unit.notify_task(END_SIGNALS[state], task)


def cancel_tasks(unit: Unit, step: SagaStep, by: str = "", reason: str = "") -> None:
    """End every live task of ``step`` as cancelled: nobody may answer it now."""
    for task in unit.live_tasks(step):
        end_task(unit, task, TaskState.CANCELLED, by, reason)
