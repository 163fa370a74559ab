"""The Django unit's task steps: tasks and their offers, written and read
in the unit's transaction (the step's row locked first, then its tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..models import TASK_LIVE_STATES, SagaStep, SagaTask, TaskOffer, TaskState

if TYPE_CHECKING:
    from .django import DjangoStore


class DjangoUnitTasks:
    """The task half of ``DjangoUnit``."""

    store: DjangoStore

    def open_task(self, task: SagaTask, offers: Sequence[TaskOffer]) -> None:
        task.save(using=self.store.using, force_insert=True)
        for offer in offers:
            offer.open = task.state == TaskState.OPEN
        TaskOffer.objects.using(self.store.using).bulk_create(offers)

    def live_tasks(self, step: SagaStep) -> list[SagaTask]:
        found = SagaTask.objects.using(self.store.using).select_for_update()
        return list(found.filter(step_id=step.pk, state__in=TASK_LIVE_STATES).order_by("id"))

    def save_task(
        self, task: SagaTask, fields: Sequence[str], offers: Sequence[TaskOffer] | None = None
    ) -> None:
        task.save(using=self.store.using, update_fields=list(fields))
        rows = TaskOffer.objects.using(self.store.using).filter(task_id=task.pk)
        is_open = task.state == TaskState.OPEN
        if offers is not None:
            rows.delete()
            for offer in offers:
                offer.open = is_open
            TaskOffer.objects.using(self.store.using).bulk_create(offers)
        elif "state" in fields:
            rows.update(open=is_open)
