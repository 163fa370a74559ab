"""A saga's graph read from the database: what each step did, and the undo order.

These are the diagram's only queries: the renderers draw a :class:`Graph` and
never touch the database.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, Max, Q

from .. import flow
from ..models import Saga, SagaStep, StepStatus
from .graph import MAX_STAGES, UNDONE, Graph, Node, Stage, shown_action, shown_compensation


def saga_graph(
    saga: Saga, steps: Sequence[SagaStep] | None = None, max_stages: int = MAX_STAGES
) -> Graph:
    """The picture of what a saga ran, from the database.

    ``steps`` are the steps to draw, in order (a page of them on the console);
    without them, the first ``max_stages`` stages are read. Either way the
    undo order counts every stage of the saga, in four small queries.
    """
    rows = SagaStep.objects.filter(saga_id=saga.pk)
    if steps is None:
        steps = list(rows.filter(stage__lt=max(1, max_stages)).order_by("position"))
    found = rows.aggregate(
        last=Max("stage"), failed=Max("stage", filter=Q(status=StepStatus.FAILED))
    )
    # Stages undo last first, all of a stage at once: their order is the order
    # of the stages whose compensations were sent.
    undone = sorted(
        set(
            rows.filter(status__in=UNDONE)
            .exclude(compensation="")
            .values_list("stage", flat=True)
            .order_by()
        ),
        reverse=True,
    )
    order = {stage: place for place, stage in enumerate(undone, 1)}
    grouped: dict[int, list[SagaStep]] = {}
    for step in steps:
        grouped.setdefault(step.stage, []).append(step)
    sizes = stage_sizes(saga, sorted(_cut(grouped)))
    stages = tuple(
        Stage(
            number,
            tuple(_node(step) for step in grouped[number]),
            hidden=sizes.get(number, len(grouped[number])) - len(grouped[number]),
            undo=order.get(number, 0),
        )
        for number in sorted(grouped)
    )
    last = found["last"] if found["last"] is not None else -1
    first_drawn = stages[0].number if stages else 0
    last_drawn = stages[-1].number if stages else -1
    failed = found["failed"]
    origin = failed if failed is not None and undone and failed > undone[0] else None
    return Graph(
        saga.name,
        stages,
        state=saga.state,
        before=first_drawn,
        after=max(0, last - last_drawn),
        origin=origin,
    )


def _cut(grouped: dict[int, list[SagaStep]]) -> set[int]:
    """The stages a page may have cut: its first and its last."""
    return {min(grouped), max(grouped)} if grouped else set()


def stage_sizes(saga: Saga, stages: list[int]) -> dict[int, int]:
    """How many steps each of ``stages`` has in all: a page may show part of a stage."""
    if not stages:
        return {}
    rows = (
        SagaStep.objects.filter(saga_id=saga.pk, stage__in=stages)
        .values("stage")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["stage"]: row["n"] for row in rows}


def _node(step: SagaStep) -> Node:
    items = step.output.get("items") if step.is_map else None
    return Node(
        step.name,
        shown_action(step.action, step.input, items if isinstance(items, int) else None),
        shown_compensation(step.action, step.compensation, step.input),
        step.pivot,
        step.status,
        step.attempts,
        step.compensation_attempts,
        step.status in UNDONE and flow.wait_undone(step),
        str(step.output.get("child") or "") if step.is_child else "",
    )
