"""What the Django store's sweeper looks for: due timeouts, deadlines and
tasks, stale sagas, and finished ones old enough to purge."""

from __future__ import annotations

from typing import Any

from django.db.models.functions import Now

from .. import clock
from ..models import IN_FLIGHT, TASK_LIVE_STATES, Saga, SagaState, SagaStep, SagaTask
from ..retention import purge


class DjangoSweeps:
    """The sweeper's queries of ``DjangoStore``, on its database (``using``)."""

    using: str

    def due_timeouts(self, limit: int) -> list[tuple[str, str]]:
        """(saga id, step id) of dispatched steps past their timeout, oldest first."""
        return list(
            SagaStep.objects.using(self.using)
            .filter(status__in=IN_FLIGHT, timeout_at__lte=due_by())
            .order_by("timeout_at")
            .values_list("saga_id", "id")[:limit]
        )

    def due_deadlines(self, limit: int) -> list[str]:
        """Ids of started sagas past their deadline."""
        return list(
            Saga.objects.using(self.using)
            .filter(state=SagaState.STARTED, deadline_at__lte=due_by())
            .order_by("deadline_at")
            .values_list("id", flat=True)[:limit]
        )

    def due_tasks(self, limit: int) -> list[tuple[str, str, str]]:
        return list(
            SagaTask.objects.using(self.using)
            .filter(state__in=TASK_LIVE_STATES, overdue=False, due_at__lte=due_by())
            .order_by("due_at")
            .values_list("saga_id", "step_id", "id")[:limit]
        )

    def stale_sagas(self, older_than: float, limit: int) -> list[Saga]:
        return list(Saga.objects.using(self.using).stale(older_than).order_by("updated_at")[:limit])

    def purge_finished(self, older_than: float, budget: float) -> int:
        return purge(older_than, using=self.using, budget=budget).sagas


def due_by() -> Any:
    """What due timeouts and deadlines are compared with: the database's clock,
    which every engine shares whatever its own host's says, so two sweepers on
    hosts that disagree by seconds never disagree on what is due. A test
    clock's time when one is set (``django_saga.testing``): a test cannot
    move the database's clock, and inside a test's transaction PostgreSQL's
    ``now()`` would not move at all."""
    return clock.now() if clock.replaced() else Now()
