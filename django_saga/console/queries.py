"""The querysets behind the console's and the admin's lists."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from ..models import Saga, SagaState, SagaStep
from .formatting import RAN


def with_progress(queryset: QuerySet[Saga]) -> QuerySet[Saga]:
    """Annotate ``steps_total`` and ``steps_done`` in the same query."""
    return queryset.annotate(
        steps_total=Count("step_set"),
        steps_done=Count("step_set", filter=Q(step_set__status__in=RAN)),
    )


def filter_sagas(queryset: QuerySet[Saga], params: Any) -> QuerySet[Saga]:
    """Apply the list's filters: ``state``, ``name`` and ``q`` (id or part of a name)."""
    state = params.get("state", "")
    if state in SagaState.values:
        queryset = queryset.filter(state=state)
    name = params.get("name", "")
    if name:
        queryset = queryset.filter(name=name)
    query = params.get("q", "").strip()
    if query:
        queryset = queryset.filter(Q(pk=query.upper()) | Q(name__icontains=query))
    return queryset


def stage_sizes(saga: Saga, shown: list[SagaStep]) -> dict[int, int]:
    """How many steps each stage on the page has in all (a stage may span two pages)."""
    stages = {step.stage for step in shown}
    rows = (
        SagaStep.objects.filter(saga_id=saga.pk, stage__in=stages)
        .values("stage")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["stage"]: row["n"] for row in rows}
