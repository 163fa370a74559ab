"""What an operator may ask of a saga from the console, the JSON API and the admin.

Each ``Operation`` names an action of ``interventions`` with its permission
and the words the pages use; the rules and the work are the manager's, so
every door refuses and records alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from .. import interventions
from ..api import manager
from ..errors import InvalidStateTransition, SagaNotFound
from ..models import Saga, SagaStep

COMPENSATE_PERMISSION = "django_saga.compensate_saga"
RETRY_PERMISSION = "django_saga.retry_saga_compensation"
RETRY_STEP_PERMISSION = "django_saga.retry_saga_step"
SKIP_STEP_PERMISSION = "django_saga.skip_saga_step"
REDRIVE_PERMISSION = "django_saga.redrive_sagas"


@dataclass(frozen=True, eq=False)
class Operation:
    """Something an operator can ask of a saga (or of one of its steps)."""

    #: The URL segment: ``compensate``, ``retry-step`` ...
    name: str
    #: The ``Intervention.Action`` it records.
    action: str
    label: str
    permission: str
    #: What the confirmation page says will happen.
    explanation: str
    #: What the page says once it is done.
    done: str
    on_step: bool = False

    def refusal(self, saga: Saga, steps: Sequence[SagaStep], step: str = "") -> str | None:
        """Why the operation does not apply to the saga as it stands (None if it does)."""
        return interventions.refusal(self.action, saga, steps, step)

    def permitted(self, user: Any) -> bool:
        return bool(user.has_perm(self.permission))

    def run(
        self,
        saga_id: str,
        *,
        by: Any,
        reason: str,
        step: str = "",
        data: dict | None = None,
    ) -> Saga:
        """Do it through the manager. ``data`` is a retried step's new input (None:
        keep its own) or a skipped step's output."""
        if self.action == interventions.COMPENSATE:
            return manager.compensate(saga_id, by=by, reason=reason)
        if self.action == interventions.RETRY_COMPENSATION:
            return manager.retry_compensation(saga_id, by=by, reason=reason)
        if self.action == interventions.RETRY_STEP:
            return manager.retry_step(saga_id, step, data, by=by, reason=reason)
        return manager.skip_step(saga_id, step, data or {}, reason, by=by)


COMPENSATE_SAGA = Operation(
    name="compensate",
    action=interventions.COMPENSATE,
    label="Compensate",
    permission=COMPENSATE_PERMISSION,
    explanation="Steps not run yet are cancelled; completed steps are undone, last first.",
    done="Compensation requested: completed steps are being undone, last first.",
)

RETRY_SAGA_COMPENSATION = Operation(
    name="retry-compensation",
    action=interventions.RETRY_COMPENSATION,
    label="Retry compensation",
    permission=RETRY_PERMISSION,
    explanation="The compensations that failed run again, each with its whole retry "
    "budget; then the saga goes on undoing, last stage first.",
    done="Compensation resumed: the failed compensations run again.",
)

RETRY_STEP = Operation(
    name="retry-step",
    action=interventions.RETRY_STEP,
    label="Retry step",
    permission=RETRY_STEP_PERMISSION,
    explanation="The step runs again, with the input below, and gets its whole retry "
    "budget back. Once no step of the saga is failed, the saga goes forward.",
    done="Step sent again: the saga goes on once it succeeds.",
    on_step=True,
)

SKIP_STEP = Operation(
    name="skip-step",
    action=interventions.SKIP_STEP,
    label="Skip step",
    permission=SKIP_STEP_PERMISSION,
    explanation="The step is recorded as completed by hand, with the output below, and "
    "the saga goes on. Its handler does not run: do what it would have done first. "
    "If the saga is compensated later, this step's compensation runs.",
    done="Step recorded as completed by hand: the saga goes on.",
    on_step=True,
)

SAGA_OPERATIONS = (COMPENSATE_SAGA, RETRY_SAGA_COMPENSATION)
STEP_OPERATIONS = (RETRY_STEP, SKIP_STEP)
OPERATIONS = {op.name: op for op in (*SAGA_OPERATIONS, *STEP_OPERATIONS)}


def relevant_steps(saga_id: str, step: str = "") -> list[SagaStep]:
    """The steps that decide whether an operation applies: the saga's pivot,
    and the step acted on. A saga of ten thousand steps loads two."""
    query = Q(pivot=True)
    if step:
        query |= Q(name=step) | Q(pk=step)
    return list(SagaStep.objects.filter(query, saga_id=saga_id).order_by("position"))


def perform(
    operation: Operation,
    saga_id: str,
    *,
    by: Any,
    reason: str,
    step: str = "",
    data: dict | None = None,
) -> Saga:
    """Run ``operation`` if the saga's state allows it.

    Raises ``SagaNotFound``, or ``InvalidStateTransition`` with a sentence
    that names the saga and says why. (A compensation asked of a saga
    already compensating is refused here, where the manager would quietly
    do nothing: an operator should be told.)
    """
    saga = Saga.objects.filter(pk=saga_id).first()
    if saga is None:
        raise SagaNotFound(f"No saga with id {saga_id!r}")
    reason_refused = operation.refusal(saga, relevant_steps(saga_id, step), step)
    if reason_refused is not None:
        raise InvalidStateTransition(reason_refused)
    return operation.run(saga_id, by=by, reason=reason, step=step, data=data)
