"""What a unit of work does for task steps: write a step's task and whom it
is offered to, read its live tasks, and change them, in the unit's
transaction. ``Unit`` inherits it; each store implements it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import SagaStep, SagaTask, TaskOffer


class UnitTasks(ABC):
    """The task half of ``Unit``."""

    @abstractmethod
    def open_task(self, task: SagaTask, offers: Sequence[TaskOffer]) -> None:
        """Write ``task`` and its ``offers`` with the unit."""

    @abstractmethod
    def live_tasks(self, step: SagaStep) -> list[SagaTask]:
        """The step's tasks someone may still act on, locked for the unit."""

    def live_task(self, step: SagaStep, task_id: str) -> SagaTask | None:
        """The step's task ``task_id`` if someone may still act on it (None:
        it ended, or is not the step's), locked for the unit."""
        return next((t for t in self.live_tasks(step) if t.pk == task_id), None)

    @abstractmethod
    def save_task(
        self, task: SagaTask, fields: Sequence[str], offers: Sequence[TaskOffer] | None = None
    ) -> None:
        """Write ``fields`` of ``task``; ``offers``, if given, replace its
        offers (none once the task has ended)."""
