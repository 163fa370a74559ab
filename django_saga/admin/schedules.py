"""Schedules in the admin: listed with when they run in words; operators
make their own, pause, resume and run them now (each asks why, for the
schedule's trail). A schedule declared in code is read-only here: its code
decides its fields, and the next deploy would undo an edit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from .. import clock
from ..api import manager
from ..errors import SagaError
from ..models import Schedule, ScheduleIntervention, ScheduleRun, Source
from ..schedules.declaration import ScheduleDeclaration, check
from ..schedules.ticking import timing_of
from ..schedules.timing import Timing
from .asking import asks_why
from .common import NoNulAdmin, ReadOnlyMixin

#: The fields an operator gives a schedule of their own.
EDITABLE = (
    "name", "definition", "params", "cron", "every", "timezone", "starts_at", "ends_at",
    "missed", "missed_limit", "overlap", "priority",
)  # fmt: skip
#: What the page shows beside them.
SHOWN = ("when", "enabled", "source", "next_run_at", "last_run", "skipped", "error")


class ScheduleForm(forms.ModelForm):
    """An operator's schedule, checked as code's are: the timing, the policies,
    and that the definition loads with its parameters."""

    class Meta:
        model = Schedule
        fields = EDITABLE

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if self.errors:
            return data
        declared = ScheduleDeclaration(
            name=data["name"],
            definition=data["definition"],
            timing=Timing(
                cron=data.get("cron") or "",
                every=data.get("every"),
                timezone=data["timezone"],
                starts=data.get("starts_at"),
                ends=data.get("ends_at"),
            ),
            params=data.get("params") or {},
            missed=data["missed"],
            missed_limit=data["missed_limit"],
            overlap=data["overlap"],
            priority=data.get("priority") or "",
        )
        try:
            check(declared)
        except SagaError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


class ScheduleRunInline(ReadOnlyMixin, admin.TabularInline):
    model = ScheduleRun
    fields = ("tick", "saga_link", "started_at", "by")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    max_num = 0
    verbose_name_plural = "latest runs"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScheduleRun]:
        latest = super().get_queryset(request).order_by("-id").values_list("pk", flat=True)[:20]
        return ScheduleRun.objects.filter(pk__in=list(latest)).order_by("-id")

    @admin.display(description="saga")
    def saga_link(self, run: ScheduleRun) -> str:
        url = reverse("admin:django_saga_saga_change", args=[run.saga_id])
        return format_html('<a href="{}">{}</a>', url, run.saga_id)


def _asks(
    name: str, title: str, explanation: str, permission: str, act: Callable[..., Any]
) -> Callable[..., TemplateResponse | None]:
    """An admin action that asks why, then calls ``act(name, by=, reason=)``
    on each selected schedule, naming each it does not apply to."""
    return asks_why(
        name,
        title,
        explanation,
        permission,
        lambda schedule: f"{schedule.name}: {schedule.definition}",
        lambda schedule, **why: act(schedule.name, **why),
        "schedule(s)",
    )


@admin.register(Schedule)
class ScheduleAdmin(NoNulAdmin):
    form = ScheduleForm
    list_display = ("name", "when", "enabled", "next_run_at", "last_run", "skipped", "source")
    list_filter = ("enabled", "source")
    search_fields = ("name", "definition")
    readonly_fields = SHOWN
    inlines = [ScheduleRunInline]
    actions = [
        _asks(
            "pause_schedules",
            "Pause",
            "Each schedule stops ticking until it is resumed.",
            "pause",
            manager.pause_schedule,
        ),
        _asks(
            "resume_schedules",
            "Resume",
            "Each schedule ticks again from its next tick: the ticks it slept through do not run.",
            "pause",
            manager.resume_schedule,
        ),
        _asks(
            "run_schedules_now",
            "Run now",
            "Each schedule's saga starts now, beside its ticks.",
            "trigger",
            manager.run_schedule,
        ),
    ]

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("django_saga.pause_schedule"))

    def has_trigger_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("django_saga.trigger_schedule"))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.source == Source.CODE:
            return False  # code decides its fields
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.source == Source.CODE:
            return False  # the next engine start would make it again
        return super().has_delete_permission(request, obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return EDITABLE if obj is None else (*EDITABLE, *SHOWN)

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        if not change or {"cron", "every", "timezone", "starts_at", "ends_at"} & set(
            form.changed_data
        ):
            obj.next_run_at = timing_of(obj).first_from(clock.now())
        super().save_model(request, obj, form, change)

    @admin.display(description="when")
    def when(self, schedule: Schedule) -> str:
        return timing_of(schedule).describe()

    @admin.display(description="last run")
    def last_run(self, schedule: Schedule) -> str:
        if not schedule.last_saga_id:
            return "-"
        url = reverse("admin:django_saga_saga_change", args=[schedule.last_saga_id])
        return format_html('<a href="{}">{}</a>', url, schedule.last_run_at)


@admin.register(ScheduleIntervention)
class ScheduleInterventionAdmin(ReadOnlyMixin, NoNulAdmin):
    """What operators did to schedules: read-only."""

    list_display = ("at", "schedule", "action", "actor", "reason")
    list_filter = ("action",)
    search_fields = ("=schedule",)
    ordering = ("-pk",)
    fields = ("id", "schedule", "action", "actor", "reason", "details", "at")
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an audit trail
