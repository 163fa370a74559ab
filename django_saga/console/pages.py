"""The console's HTML pages: the dashboard, a saga, and the operation confirmations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.urls import NoReverseMatch, reverse
from django.views import View
from django.views.generic import DetailView, TemplateView

from .. import clock
from ..conf import saga_settings
from ..errors import InvalidStateTransition, SagaNotFound
from ..models import (
    ACTIVE_STATES,
    IN_FLIGHT,
    WAITING_FOR_OPERATOR,
    Saga,
    SagaState,
    SagaStep,
    StepStatus,
)
from .access import ConsoleAccessMixin
from .formatting import (
    RAN,
    format_duration,
    format_progress,
    pretty_json,
    saga_duration,
)
from .operations import COMPENSATE_SAGA, SAGA_OPERATIONS, perform, relevant_steps
from .paging import BadCursor, Tally, tally, window, without_cursor
from .queries import attach_progress, filter_sagas, saga_names, stage_sizes
from .rows import attention_rows, by_stage, saga_rows, step_views

#: Step cards on one page of a saga's page in the console.
STEPS_PER_PAGE = 100


def _notify(request: HttpRequest, level: int, text: str) -> None:
    messages.add_message(request, level, text, fail_silently=True)


class DashboardView(ConsoleAccessMixin, TemplateView):
    """Counts by state, sagas that need an operator, and every saga, filtered.

    Served by indexes whatever the table size: counts stop at
    ``paging.COUNT_CAP`` rows and estimate beyond, and the list is paged by
    cursor (``before``/``after``), not by page number.
    """

    template_name = "django_saga/dashboard.html"
    attention_limit = 10

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().get(request, *args, **kwargs)
        except BadCursor as exc:
            raise BadRequest(f"Bad page link: {exc}.") from exc

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        get = self.request.GET
        now = clock.now()
        counts = {state: tally(Saga.objects.filter(state=state)) for state in SagaState.values}
        filtered = filter_sagas(Saga.objects.all(), get)
        page = window(filtered, get, int(saga_settings.CONSOLE_PAGE_SIZE))
        stale_after = float(saga_settings.STALE_AFTER)
        # Newest first by id: an index walk, where ordering by the time of the
        # failure would read every failed saga there is.
        waiting = Saga.objects.in_state(*WAITING_FOR_OPERATOR).order_by("-pk")
        stuck = Saga.objects.stale(stale_after).order_by("updated_at")
        is_filtered = any(get.get(k) for k in ("state", "name", "q"))
        context.update(
            sagas=saga_rows(attach_progress(page.rows), now),
            newer=page.newer,
            older=page.older,
            counts=[
                {"state": value, "label": label, "count": counts[value]}
                for value, label in SagaState.choices
            ],
            total=tally(filtered) if is_filtered else sum(counts.values(), Tally(0)),
            waiting=attention_rows(waiting[: self.attention_limit], now),
            waiting_count=sum((counts[s] for s in WAITING_FOR_OPERATOR), Tally(0)),
            stuck=attention_rows(stuck[: self.attention_limit], now),
            stuck_count=tally(stuck),
            stale_after=format_duration(timedelta(seconds=stale_after)),
            names=saga_names(),
            states=SagaState.choices,
            filters={key: get.get(key, "") for key in ("state", "name", "q")},
            filtered=is_filtered,
            query_string=without_cursor(get).urlencode(),
        )
        return context


class OneSagaView(ConsoleAccessMixin, DetailView):
    """A page about the saga whose id the URL names."""

    context_object_name = "saga"
    pk_url_kwarg = "saga_id"

    def get_queryset(self) -> QuerySet[Saga]:
        return Saga.objects.all()


class SagaDetailView(OneSagaView):
    """One saga: its steps as a timeline, and what an operator may do with it."""

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
        context.update(
            steps=step_views(by_stage(shown), stage_sizes(saga, shown)),
            steps_page=page if page.paginator.num_pages > 1 else None,
            context_json=pretty_json(saga.context),
            progress=format_progress(counts["steps_done"], counts["steps_total"]),
            duration=format_duration(saga_duration(saga)),
            operations=[
                op
                for op in SAGA_OPERATIONS
                if op.permitted(user) and op.refusal(saga, pivots) is None
            ],
            refresh=_refresh_seconds(saga),
            admin_url=_admin_url(saga),
        )
        return context


class OperationConfirmView(OneSagaView):
    """What the operation will do, and a button that does it (the POST)."""

    template_name = "django_saga/confirm.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object()
        assert self.operation is not None
        reason = self.operation.refusal(self.object, relevant_steps(self.object.pk))
        if reason is not None:
            _notify(request, messages.ERROR, reason)
            return HttpResponseRedirect(_detail_url(self.object.pk))
        return self.render_to_response(self.get_context_data(object=self.object))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        saga: Saga = self.object
        assert self.operation is not None
        steps = list(SagaStep.objects.filter(saga_id=saga.pk).order_by("position"))
        if self.operation is COMPENSATE_SAGA:
            undo_statuses: tuple[str, ...] = (StepStatus.COMPLETED,)
        else:
            undo_statuses = (StepStatus.COMPLETED, StepStatus.COMPENSATION_FAILED)
        context.update(
            operation=self.operation,
            action_url=reverse(f"django_saga:{self.operation.name}", args=[saga.pk]),
            undo=[s for s in reversed(steps) if s.status in undo_statuses],
            cancel=[s for s in steps if s.status in (StepStatus.PENDING, *IN_FLIGHT)],
        )
        return context


class OperationView(ConsoleAccessMixin, View):
    """POST only: run the operation, say how it went, back to the saga's page."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, saga_id: str) -> HttpResponse:
        assert self.operation is not None
        try:
            perform(self.operation, saga_id, by=request.user, reason=request.POST.get("reason", ""))
        except SagaNotFound as exc:
            raise Http404(str(exc)) from exc
        except InvalidStateTransition as exc:
            _notify(request, messages.ERROR, str(exc))
        else:
            _notify(request, messages.SUCCESS, self.operation.done)
        return HttpResponseRedirect(_detail_url(saga_id))


def _refresh_seconds(saga: Saga) -> int | float | None:
    seconds = saga_settings.CONSOLE_REFRESH
    if saga.state in ACTIVE_STATES and seconds and seconds > 0:
        return seconds  # type: ignore[no-any-return]
    return None


def _detail_url(saga_id: str) -> str:
    return reverse("django_saga:detail", args=[saga_id])


def _admin_url(saga: Saga) -> str | None:
    try:
        return reverse("admin:django_saga_saga_change", args=[saga.pk])
    except NoReverseMatch:
        return None
