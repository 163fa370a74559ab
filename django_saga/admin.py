"""Read-only admin for sagas: state changes go through the manager, never a form.

The operator actions (compensate, retry compensation, retry the failed
steps, re-drive) each need their own permission and first show a page that
lists the selected sagas, says what will happen and asks why (and, for a
re-drive, how fast). The reason and the admin user go on each saga's trail
and into Django's admin log. Each saga whose state does not allow the action
is named in a message with why; the others are handed to the manager one by
one. Skipping a step takes an output, so it is done from the console, which
the saga's page links to.

Deleting is refused for whatever the engine still depends on: a saga may be
deleted only once it is ``completed`` or ``compensated`` (a ``failed`` or
``compensation_failed`` saga still has steps to undo), one at a time; an
outbox row only once the broker has confirmed it (an unsent row is the only
record of a message a saga waits for).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from .console import paging
from .console.formatting import format_duration, pretty_json, progress_text, saga_duration
from .console.operations import COMPENSATE_SAGA, RETRY_SAGA_COMPENSATION, Operation, perform
from .console.paging import Tally, tally
from .console.queries import attach_progress, saga_names, search
from .errors import InvalidStateTransition, SagaNotFound
from .messages import KINDS
from .models import TERMINAL_STATES, OutboxMessage, Saga, SagaStep

#: Badge colours (background, text) by saga state or step status.
COLOURS = {
    "pending": ("#e5e7eb", "#374151"),
    "started": ("#dbeafe", "#1e40af"),
    "completed": ("#dcfce7", "#166534"),
    "failed": ("#fee2e2", "#991b1b"),
    "compensating": ("#fef3c7", "#92400e"),
    "compensated": ("#ede9fe", "#5b21b6"),
    "compensation_failed": ("#991b1b", "#ffffff"),
    "cancelled": ("#f3f4f6", "#6b7280"),
    "waiting": ("#e0f2fe", "#075985"),
    "skipped": ("#f3f4f6", "#374151"),
}


def badge(value: str, label: str) -> str:
    background, colour = COLOURS.get(value, ("#e5e7eb", "#111827"))
    return format_html(
        '<span style="background:{};color:{};padding:2px 8px;border-radius:10px;'
        'font-weight:600;white-space:nowrap">{}</span>',
        background,
        colour,
        label,
    )


def json_block(value: Any) -> str:
    return format_html(
        '<pre style="margin:0;max-width:32em;max-height:20em;overflow:auto;'
        'white-space:pre-wrap;word-break:break-word">{}</pre>',
        pretty_json(value),
    )


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


#: Steps the saga's change page lists; a longer saga links to the console for the rest.
INLINE_STEPS = 50


class FirstStepsFormSet(BaseInlineFormSet):
    """The saga's first ``INLINE_STEPS`` steps only: a page for 10,000 would take seconds."""

    def get_queryset(self) -> QuerySet[SagaStep]:
        if not hasattr(self, "_first_steps"):
            self._first_steps = super().get_queryset()[:INLINE_STEPS]
        return self._first_steps


class SagaStepInline(ReadOnlyMixin, admin.TabularInline):
    model = SagaStep
    formset = FirstStepsFormSet
    extra = 0
    can_delete = False
    ordering = ("position",)
    fields = (
        "position", "stage", "name", "action", "compensation", "status_badge", "attempts",
        "compensation_attempts", "error", "input_json", "output_json", "attempt_history",
        "executed_at", "compensated_at", "duration_ms",
    )  # fmt: skip
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may view a saga may view its steps.
        return bool(request.user.has_perm("django_saga.view_saga"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status")
    def status_badge(self, step: SagaStep) -> str:
        return badge(step.status, step.get_status_display())

    @admin.display(description="input")
    def input_json(self, step: SagaStep) -> str:
        return json_block(step.input)

    @admin.display(description="output")
    def output_json(self, step: SagaStep) -> str:
        return json_block(step.output)

    @admin.display(description="history")
    def attempt_history(self, step: SagaStep) -> str:
        entries = [e for e in step.history if isinstance(e, dict)]
        if not entries:
            return "—"
        return format_html(
            '<ul style="margin:0;padding-left:1em">{}</ul>',
            format_html_join(
                "",
                "<li>{} #{}: {} ({} ms){}</li>",
                (
                    (
                        e.get("kind", ""),
                        e.get("attempt", ""),
                        e.get("outcome", ""),
                        e.get("duration_ms", "—"),
                        f" {e['error']}" if e.get("error") else "",
                    )
                    for e in entries
                ),
            ),
        )


class BoundedPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` rows (estimates beyond) and offers the pages within them.

    Django's paginator counts the whole filtered table for every list page;
    with millions of sagas that count alone takes seconds.
    """

    @cached_property
    def tally(self) -> Tally:
        return tally(self.object_list)  # type: ignore[arg-type]  # always a queryset here

    @cached_property
    def count(self) -> int:
        return self.tally.value

    @cached_property
    def num_pages(self) -> int:
        reachable = min(self.count, paging.COUNT_CAP)
        return max(1, -(-reachable // self.per_page))


class SagaChangeList(ChangeList):
    """Progress is counted for the sagas of the page only, in one query."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.result_list = attach_progress(self.result_list)


class SagaNameFilter(admin.SimpleListFilter):
    """The distinct names, found by jumping through the name index, not by a scan."""

    title = "name"
    parameter_name = "name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in saga_names()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Saga]) -> QuerySet[Saga]:
        value = self.value()
        return queryset.filter(name=value) if value else queryset


@admin.register(Saga)
class SagaAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id", "name", "state_badge", "progress", "created_at", "updated_at", "duration",
    )  # fmt: skip
    list_filter = ("state", SagaNameFilter, "created_at")
    # What the box searches is search() below: an exact id, or part of a name.
    search_fields = ("=id", "name")
    search_help_text = "An exact saga id, or part of a saga's name."
    list_per_page = 50
    # Newest first by id (ids are ULIDs, so by creation): the primary key serves it.
    ordering = ("-pk",)
    sortable_by = ()
    # Neither a second count of the whole table nor counts beside each filter.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedPaginator
    actions = ["compensate_sagas", "retry_saga_compensations"]
    fieldsets = (
        (
            None,
            {
                "fields": ("id", "name", "state_badge", "progress", "duration", "console"),
                "description": f"The steps below are the first {INLINE_STEPS}; "
                "the console shows every step.",
            },
        ),
        ("Definition", {"fields": ("definition", "version")}),
        ("What went wrong", {"fields": ("error",)}),
        ("Context", {"fields": ("context_json",)}),
        ("Times", {"fields": ("created_at", "updated_at", "completed_at", "deadline_at")}),
    )
    readonly_fields = (
        "id", "name", "state_badge", "progress", "duration", "console", "definition",
        "version", "error", "context_json", "created_at", "updated_at", "completed_at",
        "deadline_at",
    )  # fmt: skip
    inlines = [SagaStepInline]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SagaChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Saga], search_term: str
    ) -> tuple[QuerySet[Saga], bool]:
        term = search_term.strip()
        return (search(queryset, term) if term else queryset), False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Deleting sagas in bulk could remove running ones under an engine.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only a saga that has nothing left to do or undo; never in bulk
        # (delete_selected is removed above).
        if obj is not None and obj.state not in TERMINAL_STATES:
            return False
        return bool(super().has_delete_permission(request, obj))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # An operator action posted by someone without its permission is
        # refused outright, not dropped as "no action selected".
        action = request.POST.get("action") if request.method == "POST" else None
        if action in ACTIONS and action not in self.get_actions(request):
            raise PermissionDenied(f"You may not run {action}.")
        return super().changelist_view(request, extra_context)

    # -- columns and fields ---------------------------------------------------
    @admin.display(description="state", ordering="state")
    def state_badge(self, saga: Saga) -> str:
        return badge(saga.state, saga.get_state_display())

    @admin.display(description="progress")
    def progress(self, saga: Saga) -> str:
        return progress_text(saga)

    @admin.display(description="duration")
    def duration(self, saga: Saga) -> str:
        return format_duration(saga_duration(saga))

    @admin.display(description="context")
    def context_json(self, saga: Saga) -> str:
        return json_block(saga.context)

    @admin.display(description="console")
    def console(self, saga: Saga) -> str:
        try:
            url = reverse("django_saga:detail", args=[saga.pk])
        except NoReverseMatch:
            return "—"
        return format_html('<a href="{}">Open in the saga console</a>', url)

    # -- actions --------------------------------------------------------------
    def has_compensate_permission(self, request: HttpRequest) -> bool:
        return COMPENSATE_SAGA.permitted(request.user)

    def has_retry_compensation_permission(self, request: HttpRequest) -> bool:
        return RETRY_SAGA_COMPENSATION.permitted(request.user)

    @admin.action(description="Compensate selected sagas", permissions=["compensate"])
    def compensate_sagas(self, request: HttpRequest, queryset: QuerySet[Saga]) -> None:
        self._run(request, queryset, COMPENSATE_SAGA)

    @admin.action(
        description="Retry compensation of selected sagas", permissions=["retry_compensation"]
    )
    def retry_saga_compensations(self, request: HttpRequest, queryset: QuerySet[Saga]) -> None:
        self._run(request, queryset, RETRY_SAGA_COMPENSATION)

    def _run(self, request: HttpRequest, queryset: QuerySet[Saga], operation: Operation) -> None:
        done = 0
        for saga_id in queryset.order_by("created_at", "pk").values_list("pk", flat=True):
            try:
                perform(operation, saga_id, by=request.user, reason="")
            except (InvalidStateTransition, SagaNotFound) as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                done += 1
        if done:
            text = (
                ngettext(
                    "Compensation requested for %(count)d saga.",
                    "Compensation requested for %(count)d sagas.",
                    done,
                )
                if operation is COMPENSATE_SAGA
                else ngettext(
                    "Compensation resumed for %(count)d saga.",
                    "Compensation resumed for %(count)d sagas.",
                    done,
                )
            )
            self.message_user(request, text % {"count": done}, messages.SUCCESS)


ACTIONS = ("compensate_sagas", "retry_saga_compensations")


class OutboxKindFilter(admin.SimpleListFilter):
    """The message kinds, known in advance: no scan for the distinct values."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(kind, kind) for kind in KINDS]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[OutboxMessage]
    ) -> QuerySet[OutboxMessage]:
        value = self.value()
        return queryset.filter(kind=value) if value else queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "saga", "created_at", "available_at", "sent_at")
    list_filter = (OutboxKindFilter,)
    list_select_related = ("saga",)
    # An hour of sent rows at full speed is millions: bounded like the saga list.
    ordering = ("-pk",)
    sortable_by = ()
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedPaginator
    readonly_fields = ("id", "saga", "kind", "body", "created_at", "available_at", "sent_at")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # A bulk delete could take unsent rows with it; sent ones are purged anyway.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.sent_at is None:
            return False  # the only record of a message some saga waits for
        return bool(super().has_delete_permission(request, obj))
