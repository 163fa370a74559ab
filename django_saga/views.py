"""The operator console: dashboard, saga pages, manual compensation, JSON status.

Every view asks for a staff user holding ``SAGA['CONSOLE_PERMISSION']``
(``django_saga.view_saga`` by default); compensating also needs
``django_saga.compensate_saga`` and retrying a failed compensation
``django_saga.retry_saga_compensation``. State changes go through the
manager, like everywhere else. The views read the Django-model store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import NoReverseMatch, reverse
from django.utils.decorators import decorator_from_middleware, method_decorator
from django.utils.timesince import timesince
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.generic import DetailView, ListView

from . import clock
from .api import manager
from .conf import saga_settings
from .errors import InvalidStateTransition, SagaNotFound
from .models import ACTIVE_STATES, IN_FLIGHT, Saga, SagaState, SagaStep, StepStatus

COMPENSATE_PERMISSION = "django_saga.compensate_saga"
RETRY_PERMISSION = "django_saga.retry_saga_compensation"

#: Step statuses of a step whose action ran to completion (and may since be undone).
DONE_STATUSES = (
    StepStatus.COMPLETED,
    StepStatus.SKIPPED,
    StepStatus.COMPENSATING,
    StepStatus.COMPENSATED,
    StepStatus.COMPENSATION_FAILED,
)
#: Step cards on one page of a saga's page in the console.
STEPS_PER_PAGE = 100
#: Sagas that wait for an operator.
WAITING_STATES = (SagaState.FAILED, SagaState.COMPENSATION_FAILED)


# -- operations shared by the console and the admin ------------------------
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


COMPENSATE = Operation(
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
RETRY_COMPENSATION = Operation(
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


# -- queries and formatting shared with the admin ------------------------
def with_progress(queryset: QuerySet[Saga]) -> QuerySet[Saga]:
    """Annotate ``steps_total`` and ``steps_done`` in the same query."""
    return queryset.annotate(
        steps_total=Count("step_set"),
        steps_done=Count("step_set", filter=Q(step_set__status__in=DONE_STATUSES)),
    )


def progress_text(saga: Saga) -> str:
    """``"2/3 steps"`` from the annotations of ``with_progress`` (or the steps)."""
    total = getattr(saga, "steps_total", None)
    done = getattr(saga, "steps_done", None)
    if total is None or done is None:
        steps = saga.steps
        total = len(steps)
        done = sum(1 for s in steps if s.status in DONE_STATUSES)
    return format_progress(done, total)


def format_progress(done: int, total: int) -> str:
    return f"{done}/{total} step" + ("" if total == 1 else "s")


def saga_duration(saga: Saga, now: datetime | None = None) -> timedelta:
    """Start to end; so far for an active saga; until the last change otherwise."""
    if saga.completed_at is not None:
        end = saga.completed_at
    elif saga.state in ACTIVE_STATES:
        end = now or clock.now()
    else:
        end = saga.updated_at
    return max(end - saga.created_at, timedelta(0))


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return _units(minutes, "min", secs, "s")
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _units(hours, "h", minutes, "min")
    days, hours = divmod(hours, 24)
    return _units(days, "d", hours, "h")


def _units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    """``"3 min 4 s"``, or ``"3 min"`` when the smaller unit is zero."""
    return f"{big} {big_unit}" + (f" {small} {small_unit}" if small else "")


def ago(moment: datetime, now: datetime | None = None) -> str:
    """``"just now"`` under a minute, else ``"3 h ago"`` (the largest unit only)."""
    elapsed = (now or clock.now()) - moment
    if elapsed < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def pretty_json(value: Any) -> str:
    """Indented JSON text (escaped by the template or ``format_html`` that shows it)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)


def status_json(saga: Saga) -> dict[str, Any]:
    """The saga as the status endpoint returns it."""
    return {
        "saga_id": saga.pk,
        "name": saga.name,
        "state": saga.state,
        "error": saga.error,
        "created_at": saga.created_at,
        "updated_at": saga.updated_at,
        "completed_at": saga.completed_at,
        "definition": saga.definition,
        "version": saga.version,
        "steps": [
            {
                "id": step.pk,
                "name": step.name,
                "stage": step.stage,
                "action": step.action,
                "compensation": step.compensation,
                "status": step.status,
                "attempts": step.attempts,
                "executed_at": step.executed_at,
                "compensated_at": step.compensated_at,
                "error": step.error,
            }
            for step in saga.steps
        ],
    }


# -- access ---------------------------------------------------------------
def can_view_console(user: Any) -> bool:
    """Staff (if ``CONSOLE_STAFF_ONLY``) holding ``CONSOLE_PERMISSION`` (if set)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if saga_settings.CONSOLE_STAFF_ONLY and not user.is_staff:
        return False
    permission = saga_settings.CONSOLE_PERMISSION
    return not permission or bool(user.has_perm(permission))


def json_error(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, **extra}, status=status)


class _JsonCsrfCheck(CsrfViewMiddleware):
    """The CSRF check, answering a refusal in JSON rather than an HTML page."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return json_error(403, "csrf_failed", f"CSRF verification failed: {reason}")


json_csrf_protect = decorator_from_middleware(_JsonCsrfCheck)


def deny_framing(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Forbid other sites to frame the response, whatever middleware the project has.

    A console page holds one-click operator actions (the compensate
    confirmation): framed by another site, it would be a clickjacking target.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(*args, **kwargs)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        return response

    return wrapped


class ConsoleAccessMixin:
    """Anonymous users go to the login page; others need console access.

    ``operation`` (set by the action views) adds that operation's permission.
    The CSRF check runs whether or not the project enables the middleware,
    and no page of the console may be framed.
    """

    operation: Operation | None = None

    @method_decorator(deny_framing)
    @method_decorator(csrf_protect)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_view_console(user):
            raise PermissionDenied("You may not use the saga console.")
        if self.operation is not None and not self.operation.permitted(user):
            raise PermissionDenied(f"You may not {self.operation.label.lower()} sagas.")
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class JsonAccessMixin:
    """The JSON endpoints' access rules, with every refusal as a JSON body."""

    operation: Operation | None = None

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        view = super().as_view(**initkwargs)  # type: ignore[misc]
        # The project's CSRF middleware would refuse with an HTML page; the
        # same check runs in dispatch() instead and refuses in JSON.
        return csrf_exempt(view)  # type: ignore[no-any-return]

    @method_decorator(deny_framing)
    @method_decorator(json_csrf_protect)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return json_error(403, "not_authenticated", "Log in to use the saga console.")
        if not can_view_console(user):
            return json_error(403, "permission_denied", "You may not use the saga console.")
        if self.operation is not None and not self.operation.permitted(user):
            return json_error(
                403,
                "permission_denied",
                f"You may not {self.operation.label.lower()} sagas "
                f"(needs {self.operation.permission}).",
            )
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        allowed = [m.upper() for m in ("get", "post") if hasattr(self, m)]
        response = json_error(
            405, "method_not_allowed", f"Use {' or '.join(allowed)} on this endpoint."
        )
        response["Allow"] = ", ".join(allowed)
        return response


def _notify(request: HttpRequest, level: int, text: str) -> None:
    messages.add_message(request, level, text, fail_silently=True)


# -- filters ----------------------------------------------------------------
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


# -- HTML views -------------------------------------------------------------
class DashboardView(ConsoleAccessMixin, ListView):
    """Counts by state, sagas that need an operator, and every saga, filtered."""

    template_name = "django_saga/dashboard.html"
    context_object_name = "sagas"
    attention_limit = 10

    def get_paginate_by(self, queryset: Any) -> int:
        return int(saga_settings.CONSOLE_PAGE_SIZE)

    def get_queryset(self) -> QuerySet[Saga]:
        queryset = filter_sagas(Saga.objects.all(), self.request.GET)
        return with_progress(queryset).order_by("-created_at", "-pk")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        now = clock.now()
        for saga in context["sagas"]:
            saga.progress = progress_text(saga)  # type: ignore[attr-defined]
            saga.duration = format_duration(saga_duration(saga, now))  # type: ignore[attr-defined]
        counts = {
            row["state"]: row["n"]
            for row in Saga.objects.order_by().values("state").annotate(n=Count("pk"))
        }
        stale_after = float(saga_settings.STALE_AFTER)
        waiting = Saga.objects.in_state(*WAITING_STATES).order_by("-updated_at")
        stuck = Saga.objects.stale(stale_after).order_by("updated_at")
        waiting_list, stuck_list = (
            list(waiting[: self.attention_limit]),
            list(stuck[: self.attention_limit]),
        )
        for saga in (*waiting_list, *stuck_list):
            saga.since = ago(saga.updated_at, now)  # type: ignore[attr-defined]
        params = self.request.GET.copy()
        params.pop("page", None)
        context.update(
            counts=[
                {"state": value, "label": label, "count": counts.get(value, 0)}
                for value, label in SagaState.choices
            ],
            total=sum(counts.values()),
            waiting=waiting_list,
            waiting_count=sum(counts.get(s, 0) for s in WAITING_STATES),
            stuck=stuck_list,
            stuck_count=stuck.count(),
            stale_after=format_duration(timedelta(seconds=stale_after)),
            names=list(
                Saga.objects.order_by("name").values_list("name", flat=True).distinct()[:200]
            ),
            states=SagaState.choices,
            filters={
                "state": self.request.GET.get("state", ""),
                "name": self.request.GET.get("name", ""),
                "q": self.request.GET.get("q", ""),
            },
            filtered=any(self.request.GET.get(k) for k in ("state", "name", "q")),
            query_string=params.urlencode(),
        )
        return context


class SagaDetailView(ConsoleAccessMixin, DetailView):
    """One saga: its steps as a timeline, and what an operator may do with it."""

    template_name = "django_saga/saga_detail.html"
    context_object_name = "saga"
    pk_url_kwarg = "saga_id"

    def get_queryset(self) -> QuerySet[Saga]:
        return Saga.objects.all()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        saga: Saga = self.object
        user = self.request.user
        all_steps = SagaStep.objects.filter(saga_id=saga.pk)
        counts = all_steps.aggregate(
            steps_total=Count("pk"), steps_done=Count("pk", filter=Q(status__in=DONE_STATUSES))
        )
        # A saga of thousands of steps is shown a page of them at a time.
        page = Paginator(all_steps.order_by("position"), STEPS_PER_PAGE).get_page(
            self.request.GET.get("steps")
        )
        shown = list(page.object_list)
        context.update(
            steps=_step_views(_stages(shown), _stage_sizes(saga, shown)),
            steps_page=page if page.paginator.num_pages > 1 else None,
            context_json=pretty_json(saga.context),
            progress=format_progress(counts["steps_done"], counts["steps_total"]),
            duration=format_duration(saga_duration(saga)),
            operations=[
                op
                for op in (COMPENSATE, RETRY_COMPENSATION)
                if op.refusal(saga.state) is None and op.permitted(user)
            ],
            refresh=_refresh_seconds(saga),
            admin_url=_admin_url(saga),
        )
        return context


class OperationConfirmView(ConsoleAccessMixin, DetailView):
    """What the operation will do, and a button that does it (the POST)."""

    template_name = "django_saga/confirm.html"
    context_object_name = "saga"
    pk_url_kwarg = "saga_id"

    def get_queryset(self) -> QuerySet[Saga]:
        return Saga.objects.all()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object()
        assert self.operation is not None
        reason = self.operation.refusal(self.object.state)
        if reason is not None:
            _notify(request, messages.ERROR, f"Saga {self.object.pk} {reason}.")
            return HttpResponseRedirect(_detail_url(self.object.pk))
        return self.render_to_response(self.get_context_data(object=self.object))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        saga: Saga = self.object
        assert self.operation is not None
        steps = list(SagaStep.objects.filter(saga_id=saga.pk).order_by("position"))
        if self.operation is COMPENSATE:
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
            perform(self.operation, saga_id)
        except SagaNotFound as exc:
            raise Http404(str(exc)) from exc
        except InvalidStateTransition as exc:
            _notify(request, messages.ERROR, str(exc))
        else:
            text = (
                "Compensation requested: completed steps are being undone, last first."
                if self.operation is COMPENSATE
                else "Compensation resumed: the failed compensations run again."
            )
            _notify(request, messages.SUCCESS, text)
        return HttpResponseRedirect(_detail_url(saga_id))


# -- JSON endpoints -------------------------------------------------------
class SagaListJsonView(JsonAccessMixin, View):
    """GET: sagas, newest first, filtered like the dashboard (``state``, ``name``, ``q``)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        state = request.GET.get("state", "")
        if state and state not in SagaState.values:
            return json_error(
                400, "bad_request", f"Unknown state {state!r}; one of {SagaState.values}"
            )
        queryset = with_progress(filter_sagas(Saga.objects.all(), request.GET)).order_by(
            "-created_at", "-pk"
        )
        paginator = Paginator(queryset, int(saga_settings.CONSOLE_PAGE_SIZE))
        try:
            page = paginator.page(request.GET.get("page", 1))
        except (EmptyPage, PageNotAnInteger):
            return json_error(404, "not_found", "No such page.")
        return JsonResponse(
            {
                "count": paginator.count,
                "page": page.number,
                "num_pages": paginator.num_pages,
                "results": [
                    {
                        "saga_id": saga.pk,
                        "name": saga.name,
                        "state": saga.state,
                        "steps_done": saga.steps_done,  # type: ignore[attr-defined]
                        "steps_total": saga.steps_total,  # type: ignore[attr-defined]
                        "created_at": saga.created_at,
                        "updated_at": saga.updated_at,
                        "completed_at": saga.completed_at,
                        "url": reverse("django_saga:api-detail", args=[saga.pk]),
                    }
                    for saga in page.object_list
                ],
            }
        )


class SagaStatusJsonView(JsonAccessMixin, View):
    """GET: one saga and its steps."""

    def get(self, request: HttpRequest, saga_id: str) -> HttpResponse:
        try:
            saga = manager.get(saga_id)
        except SagaNotFound:
            return json_error(404, "not_found", f"No saga with id {saga_id!r}.")
        return JsonResponse(status_json(saga))


class OperationJsonView(JsonAccessMixin, View):
    """POST: run the operation; 202 with the saga's status, 404 or 409 otherwise."""

    def post(self, request: HttpRequest, saga_id: str) -> HttpResponse:
        assert self.operation is not None
        try:
            saga = perform(self.operation, saga_id)
        except SagaNotFound:
            return json_error(404, "not_found", f"No saga with id {saga_id!r}.")
        except InvalidStateTransition as exc:
            state = Saga.objects.filter(pk=saga_id).values_list("state", flat=True).first()
            return json_error(409, "invalid_state_transition", str(exc), state=state)
        return JsonResponse(status_json(saga), status=202)


# -- metrics ----------------------------------------------------------------
class MetricsView(View):
    """Prometheus exposition: console users, or a scraper with ``METRICS_TOKEN``."""

    def get(self, request: HttpRequest) -> HttpResponse:
        from . import metrics

        bearer = metrics.bearer_matches(request.headers.get("Authorization", ""))
        if not (bearer or can_view_console(request.user)):
            return HttpResponse("Forbidden\n", status=403, content_type="text/plain")

        if not metrics.AVAILABLE:
            return HttpResponse(
                metrics.MISSING + "\n", status=501, content_type="text/plain; charset=utf-8"
            )
        body, content_type = metrics.exposition()
        return HttpResponse(body, content_type=content_type)


# -- helpers ----------------------------------------------------------------
@dataclass
class StepView:
    """A step and what its card on the saga page shows."""

    step: SagaStep
    input_json: str
    output_json: str
    history: list[dict[str, Any]]
    #: Set on the first step of a parallel stage: the heading shown above it.
    stage_heading: str = ""
    #: The step runs in parallel with others of its stage.
    in_parallel: bool = False


def _step_views(stages: list[list[SagaStep]], sizes: dict[int, int]) -> list[StepView]:
    """Cards for ``stages``; ``sizes`` counts each stage's steps, on this page or not."""
    views = []
    for stage in stages:
        for index, step in enumerate(stage):
            view = _step_view(step)
            size = sizes.get(step.stage, len(stage))
            if size > 1:
                view.in_parallel = True
                if index == 0:
                    view.stage_heading = f"{size} steps in parallel"
            views.append(view)
    return views


def _stages(steps: list[SagaStep]) -> list[list[SagaStep]]:
    """``steps`` (in order) grouped by stage."""
    grouped: dict[int, list[SagaStep]] = {}
    for step in steps:
        grouped.setdefault(step.stage, []).append(step)
    return list(grouped.values())


def _stage_sizes(saga: Saga, shown: list[SagaStep]) -> dict[int, int]:
    """How many steps each stage on the page has in all (a stage may span two pages)."""
    stages = {step.stage for step in shown}
    rows = (
        SagaStep.objects.filter(saga_id=saga.pk, stage__in=stages)
        .values("stage")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["stage"]: row["n"] for row in rows}


def _step_view(step: SagaStep) -> StepView:
    history = [
        {
            "kind": entry.get("kind", ""),
            "attempt": entry.get("attempt", ""),
            "outcome": entry.get("outcome", ""),
            "at": _parse_time(entry.get("at")),
            "duration_ms": entry.get("duration_ms"),
            "error": entry.get("error", ""),
            "retry_in": entry.get("retry_in"),
            "reason": entry.get("reason", ""),
        }
        for entry in (step.history if isinstance(step.history, list) else [])
        if isinstance(entry, dict)
    ]
    return StepView(step, pretty_json(step.input), pretty_json(step.output), history)


def _parse_time(value: Any) -> datetime | str:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return "" if value is None else str(value)


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
