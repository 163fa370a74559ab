"""What an operator may ask of a saga, and when: shared by the console and the admin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..api import manager
from ..errors import InvalidStateTransition, SagaNotFound
from ..models import Saga, SagaState

COMPENSATE_PERMISSION = "django_saga.compensate_saga"

RETRY_PERMISSION = "django_saga.retry_saga_compensation"

#: Sagas that wait for an operator.
WAITING_STATES = (SagaState.FAILED, SagaState.COMPENSATION_FAILED)


@dataclass(frozen=True, eq=False)
class Operation:
    """Something an operator can ask of a saga, and when it makes sense."""

    name: str
    label: str
    permission: str
    allowed: tuple[str, ...]
    refusals: dict[str, str]
    run: Callable[[str], Saga]
    done: str

    def refusal(self, state: str) -> str | None:
        """Why the operation cannot apply to a saga in ``state`` (None if it can)."""
        if state in self.allowed:
            return None
        return self.refusals.get(state, f"is {state}, so it cannot be {self.done}")

    def permitted(self, user: Any) -> bool:
        return bool(user.has_perm(self.permission))


def _compensate(saga_id: str) -> Saga:
    return manager.compensate(saga_id)


def _retry(saga_id: str) -> Saga:
    return manager.retry_compensation(saga_id)


COMPENSATE_SAGA = Operation(
    name="compensate",
    label="Compensate",
    permission=COMPENSATE_PERMISSION,
    allowed=(SagaState.STARTED, SagaState.FAILED, SagaState.COMPLETED),
    refusals={
        SagaState.COMPENSATING: "is already being compensated",
        SagaState.COMPENSATED: "is already compensated",
        SagaState.COMPENSATION_FAILED: (
            "has a compensation that failed: retry the compensation instead"
        ),
    },
    run=_compensate,
    done="compensated",
)

RETRY_SAGA_COMPENSATION = Operation(
    name="retry-compensation",
    label="Retry compensation",
    permission=RETRY_PERMISSION,
    allowed=(SagaState.COMPENSATION_FAILED,),
    refusals={
        state: f"is {SagaState(state).label}; only a saga whose compensation failed "
        "can have it retried"
        for state in SagaState.values
    },
    run=_retry,
    done="retried",
)


def perform(operation: Operation, saga_id: str) -> Saga:
    """Run ``operation`` on the saga through the manager.

    Raises ``SagaNotFound``, or ``InvalidStateTransition`` with a sentence
    that says why the saga's state does not allow it.
    """
    state = Saga.objects.filter(pk=saga_id).values_list("state", flat=True).first()
    if state is None:
        raise SagaNotFound(f"No saga with id {saga_id!r}")
    reason = operation.refusal(state)
    if reason is not None:
        raise InvalidStateTransition(f"Saga {saga_id} {reason}.")
    return operation.run(saga_id)
