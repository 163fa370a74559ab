"""The schedules' pages: every schedule with its next and last run, and one
schedule's page, with its next ticks, its latest runs, its trail and the
forms that pause, resume or run it now."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.views.generic import DetailView, TemplateView

from ... import clock
from ...errors import InvalidStateTransition, SagaDefinitionError, ScheduleNotFound
from ...models import Schedule
from ..access import ConsoleAccessMixin, ScheduleGuard
from ..formatting import from_now
from ..forms import ReasonForm
from ..schedules import (
    SCHEDULE_ACTS,
    TRAIL_LABELS,
    ScheduleAct,
    latest_runs,
    latest_trail,
    local_time,
    schedule_rows,
    upcoming,
    zone_of,
)
from .common import notify


class ScheduleListView(ScheduleGuard, ConsoleAccessMixin, TemplateView):
    """Every schedule, by name: when it runs in words, whether it is paused,
    its next run, its last run and how that saga went."""

    template_name = "django_saga/schedules.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rows"] = schedule_rows(Schedule.objects.order_by("name"), clock.now())
        return context


def schedule_url(name: str) -> str:
    """The address of a schedule's page."""
    return reverse("django_saga:schedule", args=[name])


def reason_form(act: ScheduleAct, data: Any = None) -> ReasonForm:
    """The reason ``act`` asks, its field's id apart from the other actions' on the page."""
    return ReasonForm(data, auto_id=f"id_{act.slug}_%s")


class ScheduleDetailView(ScheduleGuard, ConsoleAccessMixin, DetailView):
    """One schedule: its timing and policies, its next ticks, its latest runs
    and their sagas, what operators did to it, and a form for each action
    the user may take on it as it stands."""

    template_name = "django_saga/schedule_detail.html"
    context_object_name = "schedule"
    slug_field = "name"
    slug_url_kwarg = "name"

    def get_queryset(self) -> QuerySet[Schedule]:
        return Schedule.objects.all()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        schedule: Schedule = self.object
        now = clock.now()
        zone = zone_of(schedule)
        bound: dict[str, ReasonForm] = kwargs.get("bound", {})
        trail, trail_cut = latest_trail(schedule)
        (row,) = schedule_rows([schedule], now)
        context.update(
            row=row,
            upcoming=[
                (local_time(tick, zone), from_now(tick, now)) for tick in upcoming(schedule, now)
            ],
            runs=latest_runs(schedule),
            trail=[
                (entry, local_time(entry.at, zone), TRAIL_LABELS.get(entry.action, entry.action))
                for entry in trail
            ],
            trail_cut=trail_cut,
            forms=[
                {
                    "act": act,
                    "form": bound.get(act.slug) or reason_form(act),
                    "url": reverse(f"django_saga:schedule-{act.slug}", args=[schedule.name]),
                }
                for act in SCHEDULE_ACTS
                if act.permitted(self.request.user) and act.applies(schedule)
            ],
            admin_url=_admin_url(schedule),
        )
        return context


class ScheduleActView(ScheduleDetailView):
    """POST only, from a form on the schedule's page: the action (``act``),
    then back to the page with how it went. A blank reason shows the page
    again with the error under that form (a 400); the manager's refusal goes
    back to the page with its sentence, as the saga actions' do."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        act = self.act
        assert act is not None
        self.object = self.get_object()
        form = reason_form(act, request.POST)
        if not form.is_valid():
            context = self.get_context_data(bound={act.slug: form})
            return self.render_to_response(context, status=400)
        name = self.object.name
        try:
            done = act.run(name, by=request.user, reason=form.cleaned_data["reason"])
        except ScheduleNotFound as exc:
            raise Http404(str(exc)) from exc
        except (InvalidStateTransition, SagaDefinitionError) as exc:
            notify(request, messages.ERROR, str(exc))
        else:
            notify(request, messages.SUCCESS, act.said(done))
        return HttpResponseRedirect(schedule_url(name))


def _admin_url(schedule: Schedule) -> str | None:
    try:
        return reverse("admin:django_saga_schedule_change", args=[schedule.pk])
    except NoReverseMatch:
        return None
