"""A saga's page: its steps as a timeline, what an operator may do with it
or with each step, and the trail of what operators did to it."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import mark_safe

from ... import diagram
from ...actions import COMPENSATE, SAGA_ACTIONS, STEP_ACTIONS, pivot_passed, relevant_steps
from ...models import (
    ACTIVE_STATES,
    WAITING_FOR_OPERATOR,
    Intervention,
    Saga,
    SagaState,
    SagaStep,
    StepStatus,
)
from ..formatting import (
    RAN,
    format_duration,
    format_progress,
    pretty_json,
    saga_duration,
)
from ..queries import stage_sizes
from ..rows import ActionLink, by_stage, step_views, trail_rows
from ..waits import pause_note, step_waits
from .common import OneSagaView, refresh_interval

#: Step cards on one page of a saga's page in the console.
STEPS_PER_PAGE = 100
#: Stages of a page's steps its diagram draws; the rest are counted.
DIAGRAM_STAGES = 30
#: Operator actions a saga's page lists: the latest ones.
TRAIL_SHOWN = 100
#: Child sagas a saga's page lists, the oldest first (the list shows them all).
CHILDREN_SHOWN = 50


class SagaDetailView(OneSagaView):
    """One saga: its steps as a timeline, what an operator may do with it or
    with each step, and what operators did to it."""

    template_name = "django_saga/saga_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        saga: Saga = self.object
        user = self.request.user
        all_steps = SagaStep.objects.filter(saga_id=saga.pk)
        counts = all_steps.aggregate(
            steps_total=Count("pk"), steps_done=Count("pk", filter=Q(status__in=RAN))
        )
        # A saga of thousands of steps is shown a page of them at a time.
        paginator = Paginator(all_steps.order_by("position"), STEPS_PER_PAGE)
        paginator.count = counts["steps_total"]  # counted above: no second COUNT
        page = paginator.get_page(self.request.GET.get("steps"))
        shown = list(page.object_list)
        pivots = relevant_steps(saga.pk)
        steps = step_views(by_stage(shown), stage_sizes(saga, shown))
        step_actions = [action for action in STEP_ACTIONS if action.permitted(user)]
        waits = step_waits(saga)
        for item in steps:
            item.waits = waits.get(item.step.pk, "")
            if item.step.is_map and "items" in item.step.output:
                item.item_counts = map_item_counts(item.step)
            item.actions = [
                ActionLink(
                    action, reverse(f"django_saga:{action.slug}", args=[saga.pk, item.step.pk])
                )
                for action in step_actions
                if action.refusal(saga, [item.step], item.step.pk) is None
            ]
        children = list(saga.children.order_by("pk")[: CHILDREN_SHOWN + 1])
        graph = diagram.linked(
            diagram.saga_graph(saga, shown).bounded(DIAGRAM_STAGES),
            lambda child: reverse("django_saga:detail", args=[child]),
        )
        latest = Intervention.objects.filter(saga_id=saga.pk).order_by("-id")
        trail = list(latest[: TRAIL_SHOWN + 1])
        context.update(
            steps=steps,
            steps_page=page if page.paginator.num_pages > 1 else None,
            # Built here from escaped text only: see django_saga.diagram.
            diagram=mark_safe(diagram.to_svg(graph, max_stages=DIAGRAM_STAGES)),
            diagram_note=_diagram_note(graph),
            context_json=pretty_json(saga.context),
            progress=format_progress(counts["steps_done"], counts["steps_total"]),
            duration=format_duration(saga_duration(saga)),
            actions=[
                ActionLink(action, reverse(f"django_saga:confirm-{action.slug}", args=[saga.pk]))
                for action in SAGA_ACTIONS
                if action.permitted(user) and action.refusal(saga, pivots) is None
            ],
            operator_note=_operator_note(saga, pivots),
            pause_note=pause_note(saga),
            compensation_note=_compensation_note(saga, trail),
            trail=trail_rows(trail[:TRAIL_SHOWN][::-1]),
            trail_cut=len(trail) > TRAIL_SHOWN,
            refresh=_refresh_seconds(saga),
            admin_url=_admin_url(saga),
            parent_step=_parent_step(saga),
            children=_started_by(children[:CHILDREN_SHOWN]),
            children_cut=len(children) > CHILDREN_SHOWN,
        )
        return context


def map_item_counts(map_step: SagaStep) -> list[tuple[str, int]]:
    """How many of the map's items are in each status, in the statuses' order."""
    found = dict(
        SagaStep.objects.filter(map_step.items_filter)
        .values_list("status")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return [(label, found[value]) for value, label in StepStatus.choices if found.get(value)]


def _diagram_note(graph: diagram.Graph) -> str:
    """Which stages the diagram draws, when it does not draw them all."""
    if not graph.stages or not (graph.before or graph.after):
        return ""
    first, last = graph.stages[0].number + 1, graph.stages[-1].number + 1
    total = graph.before + len(graph.stages) + graph.after
    return f"Stages {first}\u2013{last} of {total:,}: the steps below list this page's steps."


#: States in which an operator's request is the whole reason a saga was compensated.
_UNFAILED = (SagaState.STARTED, SagaState.COMPLETED)


def _compensation_note(saga: Saga, trail: list[Intervention]) -> str:
    """What to say, in place of an error, of a saga compensated cleanly at an
    operator's request; "" for any other saga.

    Told apart by the trail, not by the error's text: the saga's latest
    operator action (``trail`` is newest first) is a compensation asked while
    it was started or completed, so no step had failed. Whatever failed since
    (a compensation, then retried) left a later action, or the saga in
    ``compensation_failed``, and keeps its red error.
    """
    if saga.state not in (SagaState.COMPENSATING, SagaState.COMPENSATED) or not trail:
        return ""
    latest = trail[0]
    before = latest.details.get("state") if isinstance(latest.details, dict) else None
    if latest.action != COMPENSATE.name or before not in _UNFAILED:
        return ""
    what = "Being compensated" if saga.state == SagaState.COMPENSATING else "Compensated"
    reason = f" Reason: {latest.reason}" if latest.reason else ""
    return (
        f"{what} at an operator's request, not after a failure: {latest.actor} asked "
        f"while the saga was {before}.{reason}"
    )


def _operator_note(saga: Saga, pivots: list[SagaStep]) -> str:
    """What an operator must do about a saga that waits for one; "" for any other."""
    if saga.state not in WAITING_FOR_OPERATOR:
        return ""
    broken = (
        StepStatus.COMPENSATION_FAILED
        if saga.state == SagaState.COMPENSATION_FAILED
        else StepStatus.FAILED
    )
    names = list(
        SagaStep.objects.filter(saga_id=saga.pk, status=broken)
        .order_by("position")
        .values_list("name", flat=True)[:3]
    )
    steps = ("step " if len(names) == 1 else "steps ") + ", ".join(map(repr, names))
    them = "it" if len(names) == 1 else "them"
    if saga.state == SagaState.HALTED:
        pivot = pivot_passed(pivots)
        past = f"its pivot step {pivot.name!r}" if pivot is not None else "its pivot step"
        return (
            f"Halted: an operator must act. The saga is past {past}, so what it did "
            f"cannot be undone and it will not be compensated; {steps} failed for good. "
            f"Retry {them} once the cause is fixed, or skip {them} if the work was done by hand."
        )
    if saga.state == SagaState.COMPENSATION_FAILED:
        return (
            f"Waiting for an operator: the compensation of {steps} failed. "
            "Retry the compensation once its cause is fixed."
        )
    return (
        f"Waiting for an operator: {steps} failed and the saga was not compensated. "
        "Retry or skip the step, or compensate the saga."
    )


def _started_by(children: list[Saga]) -> list[tuple[Saga, str]]:
    """Each child with the name of its parent's step that started it."""
    ids = [child.parent_step_id for child in children]
    names = dict(SagaStep.objects.filter(pk__in=ids).values_list("pk", "name"))
    return [(child, names.get(child.parent_step_id or "", "")) for child in children]


def _parent_step(saga: Saga) -> str:
    """The name of the parent's step that started a child saga ("" for none)."""
    if not saga.parent_step_id:
        return ""
    found = SagaStep.objects.filter(pk=saga.parent_step_id).values_list("name", flat=True)
    return found.first() or ""


def _refresh_seconds(saga: Saga) -> int | float | None:
    return refresh_interval() if saga.state in ACTIVE_STATES else None


def _admin_url(saga: Saga) -> str | None:
    try:
        return reverse("admin:django_saga_saga_change", args=[saga.pk])
    except NoReverseMatch:
        return None
