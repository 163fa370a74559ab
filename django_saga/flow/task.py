"""A task step's messages and answers: make its task when the saga reaches
it, record a person's answer, and escalate it past its due time (see
``django_saga.tasks``).

A task step runs no handler. Its message makes one task for the attempt,
offered as the step's input says, and leaves the step ``waiting``; a copy
of the message finds it waiting and changes nothing. An answer goes
through the same door as an outside result (``outside_result``), so a
second answer of the same attempt is refused, not recorded twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .. import clock, signals
from ..errors import SagaDefinitionError
from ..messages import EXECUTE
from ..models import FORWARD_STATES, OfferKind, SagaStep, SagaTask, StepStatus, TaskOffer, TaskState
from ..references import read
from ..tasks import CANDIDATES, COMPLETE, DUE, FAIL, FORM, OFFER, ON_DUE, PERMISSION, SHOW, TITLE
from .forward import outside_result, step_cancelled, step_failed, step_waiting
from .history import CANCELLED, EARLY, FAILED, record
from .task_ends import end_task

if TYPE_CHECKING:
    from ..stores.base import Unit

#: The history outcome of a task step whose task was made.
OFFERED = "offered"
#: The history outcome of a task escalated past its due time.
ESCALATED = "escalated"


def task_message(unit: Unit, step: SagaStep) -> str:
    """Make the task of a task step the saga has reached, and say what came
    of its message (a history outcome, or ``EARLY`` for a copy)."""
    if step.status == StepStatus.WAITING:
        return EARLY  # its task is made: a redelivered copy
    # Under the saga's lock: a sibling that turns the saga back either sees
    # this step waiting (and cancels its task) or is seen here.
    unit.lock_saga()
    if unit.saga.state not in FORWARD_STATES:
        step_cancelled(unit, step)
        return CANCELLED
    where = f"Task {step.name!r}"
    data = step.input
    try:
        shown = {label: read(unit.saga, ref, where) for label, ref in (data[SHOW] or {}).items()}
        task = SagaTask(
            saga=unit.saga,
            step=step,
            attempt=step.attempts,
            title=data[TITLE],
            form=data[FORM],
            shown=shown,
            due_at=None if data.get(DUE) is None else clock.later(data[DUE]),
        )
        unit.open_task(task, offers(task, data.get(CANDIDATES) or [], data.get(PERMISSION) or ""))
    except SagaDefinitionError as exc:
        error = f"{type(exc).__name__}: {exc}"
        record(step, EXECUTE, step.attempts, FAILED, 0, error)
        step_failed(unit, step, error, 0)
        return FAILED
    record(step, EXECUTE, step.attempts, OFFERED, 0, note={"task": task.pk})
    step_waiting(unit, step, {}, 0, None)
    unit.notify_task(signals.task_created, task)
    return OFFERED


def offers(
    task: SagaTask, groups: Iterable[str], permission: str = "", user: str = ""
) -> list[TaskOffer]:
    """Whom ``task`` is offered to, as rows: each group, the permission's
    holders, or one user (a delegation, which replaces the rest)."""
    if user:
        return [TaskOffer(task=task, kind=OfferKind.USER, name=user)]
    rows = [
        TaskOffer(task=task, kind=OfferKind.GROUP, name=group) for group in dict.fromkeys(groups)
    ]
    if permission:
        rows.append(TaskOffer(task=task, kind=OfferKind.PERMISSION, name=permission))
    return rows


def answer(
    unit: Unit,
    task: SagaTask,
    outcome: str,
    output: Mapping[str, Any] | None,
    by: str,
    reason: str = "",
) -> bool:
    """Record a person's answer to ``task`` (``completed`` with its form's
    cleaned data, or ``failed`` with a reason): the task ends and its step
    goes on or fails. False if this very answer was recorded already."""
    step = unit.step
    assert step is not None and step.pk == task.step_id
    recorded = outside_result(
        unit, step, outcome, dict(output or {}), reason, task.attempt, by_task=True
    )
    if recorded:
        state = TaskState.COMPLETED if outcome == StepStatus.COMPLETED else TaskState.REJECTED
        end_task(unit, task, state, by, reason)
    return recorded


def escalate(unit: Unit, task: SagaTask) -> str:
    """``task`` is past due: signal it, then do what its step's ``on_due``
    says (offer it to other groups, fail it, complete it); what happened."""
    step = unit.step
    assert step is not None and step.pk == task.step_id
    unit.notify_task(signals.task_due, task)
    policy = step.input.get(ON_DUE) or {}
    task.escalations += 1
    if OFFER in policy:
        due = policy.get(DUE)
        task.due_at = None if due is None else clock.later(due)
        task.claimed_by, task.claimed_at, task.state = "", None, TaskState.OPEN
        task.overdue = due is None
        fields = ["escalations", "due_at", "overdue", "claimed_by", "claimed_at", "state"]
        unit.save_task(task, fields, offers=offers(task, policy[OFFER]))
        record(step, EXECUTE, step.attempts, ESCALATED, note={"offered_to": policy[OFFER]})
        unit.save_step(step, ["history"])
        unit.notify_task(signals.task_escalated, task)
        return ESCALATED
    unit.save_task(task, ["escalations"])
    if FAIL in policy:
        answer(unit, task, StepStatus.FAILED, None, "", f"past its due time: {policy[FAIL]}")
        return FAILED
    if COMPLETE in policy:
        answer(unit, task, StepStatus.COMPLETED, policy[COMPLETE], "", "past its due time")
        return TaskState.COMPLETED
    # Nothing to do but say so: it stays offered, overdue, and is not looked at again.
    task.overdue = True
    unit.save_task(task, ["overdue"])
    return "due"
