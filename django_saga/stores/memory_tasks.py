"""The memory unit's task steps: none. A task is offered to users, groups
and permissions, which live in the database: the Django store keeps tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import SagaDefinitionError

if TYPE_CHECKING:
    from ..models import SagaStep, SagaTask, TaskOffer

REFUSED = "task steps need the Django store (SAGA['STORE']): their users live in the database"


class MemoryUnitTasks:
    """The task half of ``MemoryUnit``: a task step fails, saying why."""

    def open_task(self, task: SagaTask, offers: Sequence[TaskOffer]) -> None:
        raise SagaDefinitionError(REFUSED)

    def live_tasks(self, step: SagaStep) -> list[SagaTask]:
        return []

    def save_task(
        self, task: SagaTask, fields: Sequence[str], offers: Sequence[TaskOffer] | None = None
    ) -> None:
        raise SagaDefinitionError(REFUSED)
