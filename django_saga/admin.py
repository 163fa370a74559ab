"""Read-only admin for sagas: state changes go through the manager, never a form.

The operator actions (compensate, retry compensation, retry the failed
steps, re-drive) each need their own permission and first show a page that
lists the selected sagas, says what will happen and asks why (and, for a
re-drive, how fast). The reason and the admin user go on each saga's trail
and into Django's admin log. Each saga whose state does not allow the action
is named in a message with why; the others are handed to the manager one by
one. Skipping a step takes an output, so it is done from the console, which
the saga's page links to. The trail itself (``Intervention``) is listed
read-only, beside each saga and on its own: never added to, changed or deleted
here.

Deleting is refused for whatever the engine still depends on: a saga may be
deleted only once it is ``completed`` or ``compensated`` (a ``failed`` or
``compensation_failed`` saga still has steps to undo), one at a time; an
outbox row only once the broker has confirmed it (an unsent row is the only
record of a message a saga waits for).

A list filter, a page's id or an action's selection holding a NUL character
names no row (PostgreSQL would refuse to compare it): an empty list, the
admin's "doesn't exist", an action that changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import slugify
from django.utils.translation import ngettext

from . import interventions
from .api import manager
from .console import paging, tokens
from .console.formatting import format_duration, pretty_json, progress_text, saga_duration
from .console.forms import RateForm, ReasonForm
from .console.operations import (
    COMPENSATE_SAGA,
    REDRIVE_PERMISSION,
    RETRY_SAGA_COMPENSATION,
    RETRY_STEP,
    Operation,
    perform,
)
from .console.paging import Tally, tally
from .console.queries import attach_progress, saga_names, search
from .errors import InvalidStateTransition, SagaDefinitionError, SagaNotFound
from .messages import KINDS
from .models import (
    TERMINAL_STATES,
    ApiToken,
    Intervention,
    OutboxMessage,
    Saga,
    SagaStep,
    StepStatus,
)

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
    "halted": ("#ffedd5", "#9a3412"),
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
#: Operator actions the saga's change page lists, the newest first.
INLINE_TRAIL = 50


class FirstRowsFormSet(BaseInlineFormSet):
    """The first ``limit`` rows only: a page for 10,000 steps would take seconds."""

    limit: int

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_first_rows"):
            self._first_rows = super().get_queryset()[: self.limit]
        return self._first_rows


class FirstStepsFormSet(FirstRowsFormSet):
    limit = INLINE_STEPS


class LatestTrailFormSet(FirstRowsFormSet):
    limit = INLINE_TRAIL


def console_url(saga_id: str) -> str | None:
    """The saga's page in the console, if the project mounts the console."""
    try:
        return reverse("django_saga:detail", args=[saga_id])
    except NoReverseMatch:
        return None


class SeenWithTheSaga:
    """An inline of the saga's page: whoever may view a saga may view it."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("django_saga.view_saga"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SagaStepInline(SeenWithTheSaga, ReadOnlyMixin, admin.TabularInline):
    model = SagaStep
    formset = FirstStepsFormSet
    extra = 0
    can_delete = False
    ordering = ("position",)
    fields = (
        "position", "stage", "name", "pivot", "action", "compensation", "status_badge",
        "repair", "attempts", "compensation_attempts", "error", "input_json", "output_json",
        "attempt_history", "executed_at", "compensated_at", "duration_ms",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="status")
    def status_badge(self, step: SagaStep) -> str:
        return badge(step.status, step.get_status_display())

    @admin.display(description="operator")
    def repair(self, step: SagaStep) -> str:
        # Retrying or skipping one step takes an input or an output: the
        # console's saga page has the forms for both.
        if step.status not in (StepStatus.FAILED, StepStatus.WAITING):
            return ""
        url = console_url(step.saga_id)
        if url is None:
            return ""
        verbs = "Retry or skip" if step.status == StepStatus.FAILED else "Skip"
        return format_html(
            '<a href="{}#step-{}">{} in the console</a>', url, slugify(step.name), verbs
        )

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


class InterventionInline(SeenWithTheSaga, ReadOnlyMixin, admin.TabularInline):
    """The saga's trail: what operators did to it, by whom and why."""

    model = Intervention
    formset = LatestTrailFormSet
    extra = 0
    can_delete = False
    ordering = ("-pk",)
    verbose_name = "operator action"
    verbose_name_plural = f"what operators did: the latest {INLINE_TRAIL}, newest first"
    fields = ("at", "actor", "action", "step", "reason", "redrive")
    readonly_fields = fields

    @admin.display(description="re-drive")
    def redrive(self, entry: Intervention) -> str:
        if not entry.batch:
            return ""
        url = reverse("admin:django_saga_intervention_changelist")
        return format_html(
            '<a href="{}?{}">{}</a>', url, urlencode({"batch": entry.batch}), entry.batch
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


def _holds_nul(values: Iterable[str]) -> bool:
    return any("\x00" in value for value in values)


class NoNulChangeList(ChangeList):
    """A list filtered or searched by a value holding a NUL character shows no rows.

    No row of the library's tables holds one, and PostgreSQL refuses to
    compare one with a text column: the list would fail instead of matching
    nothing.
    """

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        # Checked first: a search may read the database while the list is built.
        values = [value for values in self.filter_params.values() for value in values]
        if _holds_nul([*values, self.query]):
            return self.root_queryset.none()
        return super().get_queryset(request, exclude_parameters)


class NoNulAdmin(admin.ModelAdmin):
    """Lists, pages and actions that take an id or a filter holding a NUL character
    as naming no row, where PostgreSQL would raise."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return NoNulChangeList

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        if "\x00" in object_id:
            return None  # the admin's own "doesn't exist"
        return super().get_object(request, object_id, from_field)

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        if _holds_nul(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)):
            self.message_user(
                request,
                "No row's id holds a NUL character: nothing was changed.",
                messages.WARNING,
            )
            return None  # back to the list
        return super().response_action(request, queryset, *args, **kwargs)


class SagaChangeList(NoNulChangeList):
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


# -- operator actions on the selected sagas -------------------------------------

#: Sagas one action takes at most; more is a job for ``manage.py saga redrive``.
MAX_SELECTED = 1000
#: Sagas the confirmation page lists (the action applies to the whole selection).
PREVIEW_ROWS = 100


@dataclass(frozen=True)
class BulkAction:
    """An operator action on the selected sagas, as its confirmation page shows it."""

    #: The admin action's name (the ``SagaAdmin`` method).
    name: str
    title: str
    explanation: str
    #: What the page says beside a saga the action applies to.
    applies: str
    #: Why the action does not apply to a saga, given its pivot and failed steps.
    refusal: Callable[[Saga, Sequence[SagaStep]], str | None]
    form: type[ReasonForm] = ReasonForm


COMPENSATE_SAGAS = BulkAction(
    "compensate_sagas",
    "Compensate sagas",
    COMPENSATE_SAGA.explanation + " This cannot be taken back.",
    "Will be compensated.",
    lambda saga, steps: interventions.refusal(interventions.COMPENSATE, saga, steps),
)
RETRY_COMPENSATIONS = BulkAction(
    "retry_saga_compensations",
    "Retry the compensation of sagas",
    RETRY_SAGA_COMPENSATION.explanation,
    "Its failed compensations will run again.",
    lambda saga, steps: interventions.refusal(interventions.RETRY_COMPENSATION, saga, steps),
)
RETRY_FAILED_STEPS = BulkAction(
    "retry_failed_steps",
    "Retry the failed steps of sagas",
    "Each failed step runs again with its own input and gets its whole retry budget "
    "back; the saga goes forward once it succeeds. To retry a step with another input, "
    "or to skip it, use the saga's page in the console.",
    "Its failed steps will run again.",
    interventions.failed_steps_refusal,
)
REDRIVE_SAGAS = BulkAction(
    "redrive_sagas",
    "Re-drive sagas",
    "Each saga gets what fits its state: its failed steps retried (failed, halted) or its "
    "failed compensations retried (compensation failed), with their own input. The "
    "sagas are sent one after another at the rate below, so that the service that "
    "failed is not swamped; the re-drive's id names it on every saga's trail.",
    "Will be re-driven.",
    lambda saga, steps: interventions.failed_steps_refusal(saga, steps, compensations=True),
    RateForm,
)
BULK_ACTIONS = {
    a.name: a for a in (COMPENSATE_SAGAS, RETRY_COMPENSATIONS, RETRY_FAILED_STEPS, REDRIVE_SAGAS)
}


def deciding_steps(saga_ids: Sequence[str]) -> dict[str, list[SagaStep]]:
    """The steps that decide what applies to each saga (its pivot, its failed
    steps), in one query for all of them."""
    found: dict[str, list[SagaStep]] = {saga_id: [] for saga_id in saga_ids}
    rows = SagaStep.objects.filter(
        Q(pivot=True) | Q(status=StepStatus.FAILED), saga_id__in=saga_ids
    ).order_by("saga_id", "position")
    for step in rows:
        found[step.saga_id].append(step)
    return found


@admin.register(Saga)
class SagaAdmin(ReadOnlyMixin, NoNulAdmin):
    list_display = (
        "id", "name", "key", "state_badge", "progress", "created_at", "updated_at", "duration",
    )  # fmt: skip
    list_filter = ("state", SagaNameFilter, "created_at")
    # What the box searches is search() below: an exact id or key, or part of a name.
    search_fields = ("=id", "=key", "name")
    search_help_text = "An exact saga id or business key, or part of a saga's name."
    list_per_page = 50
    # Newest first by id (ids are ULIDs, so by creation): the primary key serves it.
    ordering = ("-pk",)
    sortable_by = ()
    # Neither a second count of the whole table nor counts beside each filter.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedPaginator
    actions = list(BULK_ACTIONS)
    fieldsets = (
        (
            None,
            {
                "fields": ("id", "name", "key", "state_badge", "progress", "duration", "console"),
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
        "id", "name", "key", "state_badge", "progress", "duration", "console", "definition",
        "version", "error", "context_json", "created_at", "updated_at", "completed_at",
        "deadline_at",
    )  # fmt: skip
    inlines = [SagaStepInline, InterventionInline]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SagaChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Saga], search_term: str
    ) -> tuple[QuerySet[Saga], bool]:
        term = search_term.strip()
        if "\x00" in term:  # no saga holds one, and PostgreSQL would refuse to look
            return queryset.none(), False
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
        if action in BULK_ACTIONS and action not in self.get_actions(request):
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
        url = console_url(saga.pk)
        if url is None:
            return "—"
        return format_html('<a href="{}">Open in the saga console</a>', url)

    # -- actions --------------------------------------------------------------
    def has_compensate_permission(self, request: HttpRequest) -> bool:
        return COMPENSATE_SAGA.permitted(request.user)

    def has_retry_compensation_permission(self, request: HttpRequest) -> bool:
        return RETRY_SAGA_COMPENSATION.permitted(request.user)

    def has_retry_step_permission(self, request: HttpRequest) -> bool:
        return RETRY_STEP.permitted(request.user)

    def has_redrive_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(REDRIVE_PERMISSION))

    @admin.action(description="Compensate selected sagas", permissions=["compensate"])
    def compensate_sagas(
        self, request: HttpRequest, queryset: QuerySet[Saga]
    ) -> TemplateResponse | None:
        return self._ask_then(request, queryset, COMPENSATE_SAGAS, self._compensate)

    @admin.action(
        description="Retry compensation of selected sagas", permissions=["retry_compensation"]
    )
    def retry_saga_compensations(
        self, request: HttpRequest, queryset: QuerySet[Saga]
    ) -> TemplateResponse | None:
        return self._ask_then(request, queryset, RETRY_COMPENSATIONS, self._retry_compensations)

    @admin.action(
        description="Retry the failed steps of selected sagas", permissions=["retry_step"]
    )
    def retry_failed_steps(
        self, request: HttpRequest, queryset: QuerySet[Saga]
    ) -> TemplateResponse | None:
        return self._ask_then(request, queryset, RETRY_FAILED_STEPS, self._retry_failed_steps)

    @admin.action(description="Re-drive selected sagas", permissions=["redrive"])
    def redrive_sagas(
        self, request: HttpRequest, queryset: QuerySet[Saga]
    ) -> TemplateResponse | None:
        return self._ask_then(request, queryset, REDRIVE_SAGAS, self._redrive)

    def _ask_then(
        self,
        request: HttpRequest,
        queryset: QuerySet[Saga],
        action: BulkAction,
        work: Callable[[HttpRequest, list[str], dict[str, Any]], None],
    ) -> TemplateResponse | None:
        """The confirmation page, or, once it is posted back valid, the work."""
        # By id, so by creation: oldest first, and a walk of the primary key
        # even when "select all" took the whole filtered list.
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_SELECTED + 1])
        if len(ids) > MAX_SELECTED:
            self.message_user(
                request,
                f"More than {MAX_SELECTED:,} sagas are selected, and an action here takes "
                f"at most {MAX_SELECTED:,}: filter the list, or use `manage.py saga` on a "
                "server. Nothing was changed.",
                messages.ERROR,
            )
            return None
        form = action.form(request.POST if request.POST.get("post") else None)
        if form.is_valid():
            work(request, ids, form.cleaned_data)
            return None
        return self._confirmation_page(request, action, ids, form)

    def _confirmation_page(
        self, request: HttpRequest, action: BulkAction, ids: list[str], form: ReasonForm
    ) -> TemplateResponse:
        shown = ids[:PREVIEW_ROWS]
        steps = deciding_steps(shown)
        sagas = Saga.objects.filter(pk__in=shown).order_by("pk")
        rows = [(saga, action.refusal(saga, steps[saga.pk])) for saga in sagas]
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action.title}?",
            "opts": self.opts,
            "action": action,
            "rows": rows,
            "refused": sum(1 for _, why in rows if why is not None),
            "more": len(ids) - len(shown),
            "selected": ids,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/django_saga/saga/action_confirmation.html", context)

    def _compensate(self, request: HttpRequest, ids: list[str], data: dict[str, Any]) -> None:
        done = self._perform_each(request, ids, COMPENSATE_SAGA, data["reason"])
        text = ngettext(
            "Compensation requested for %(count)d saga.",
            "Compensation requested for %(count)d sagas.",
            done,
        )
        self._succeeded(request, done, text)

    def _retry_compensations(
        self, request: HttpRequest, ids: list[str], data: dict[str, Any]
    ) -> None:
        done = self._perform_each(request, ids, RETRY_SAGA_COMPENSATION, data["reason"])
        text = ngettext(
            "Compensation resumed for %(count)d saga.",
            "Compensation resumed for %(count)d sagas.",
            done,
        )
        self._succeeded(request, done, text)

    def _perform_each(
        self, request: HttpRequest, ids: list[str], operation: Operation, reason: str
    ) -> int:
        done = 0
        for saga_id in ids:
            try:
                perform(operation, saga_id, by=request.user, reason=reason)
            except (InvalidStateTransition, SagaNotFound) as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                done += 1
        return done

    def _retry_failed_steps(
        self, request: HttpRequest, ids: list[str], data: dict[str, Any]
    ) -> None:
        sagas = Saga.objects.in_bulk(ids)
        steps = deciding_steps(ids)
        done = 0
        for saga_id in ids:
            saga = sagas.get(saga_id)
            why = (
                f"No saga with id {saga_id!r}"
                if saga is None
                else interventions.failed_steps_refusal(saga, steps[saga_id])
            )
            if why is not None:
                self.message_user(request, why, messages.WARNING)
                continue
            failed = [s.name for s in steps[saga_id] if s.status == StepStatus.FAILED]
            try:
                for name in failed:
                    manager.retry_step(saga_id, name, by=request.user, reason=data["reason"])
            except (InvalidStateTransition, SagaNotFound) as exc:
                # Changed since it was read: the manager checked again under its lock.
                self.message_user(request, str(exc), messages.WARNING)
            else:
                done += 1
        text = ngettext(
            "Failed steps sent again for %(count)d saga.",
            "Failed steps sent again for %(count)d sagas.",
            done,
        )
        self._succeeded(request, done, text)

    def _redrive(self, request: HttpRequest, ids: list[str], data: dict[str, Any]) -> None:
        try:
            redrive = manager.redrive(
                ids, rate=data["rate"], by=request.user, reason=data["reason"]
            )
        except SagaDefinitionError as exc:  # a rate too slow for so many sagas
            self.message_user(request, f"Nothing was re-driven: {exc}", messages.ERROR)
            return
        for _, why in redrive.refused:
            self.message_user(request, why, messages.WARNING)
        count = len(redrive.scheduled)
        if not count:
            return
        follow = reverse("admin:django_saga_intervention_changelist")
        last = (
            f"the last one goes out in {format_duration(timedelta(seconds=redrive.seconds))}"
            if redrive.seconds
            else "it goes out at once"
        )
        self.message_user(
            request,
            format_html(
                'Re-drive {}: {} sent again at {} a second; {}. <a href="{}?{}">Follow it</a>.',
                redrive.batch,
                ngettext("%(count)d saga", "%(count)d sagas", count) % {"count": count},
                f"{redrive.rate:g}",
                last,
                follow,
                urlencode({"batch": redrive.batch}),
            ),
            messages.SUCCESS,
        )

    def _succeeded(self, request: HttpRequest, done: int, text: str) -> None:
        if done:
            self.message_user(request, text % {"count": done}, messages.SUCCESS)


class InterventionActionFilter(admin.SimpleListFilter):
    """The actions, known in advance: no scan for the distinct values."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Intervention.Action.choices)

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Intervention]
    ) -> QuerySet[Intervention]:
        value = self.value()
        return queryset.filter(action=value) if value else queryset


@admin.register(Intervention)
class InterventionAdmin(ReadOnlyMixin, NoNulAdmin):
    """Every operator action on every saga: the audit trail, read-only."""

    list_display = ("at", "saga_link", "action", "step", "actor")
    list_filter = (InterventionActionFilter,)
    search_fields = ("=saga__id", "=batch")
    search_help_text = "An exact saga id, or a re-drive's id."
    # Bounded like the saga list: newest first by id, no full count, no facets.
    ordering = ("-pk",)
    sortable_by = ()
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedPaginator
    readonly_fields = (
        "id", "saga_link", "action", "step", "actor", "reason", "details_json", "batch", "at",
    )  # fmt: skip
    fields = readonly_fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The trail is part of a saga's page: whoever may view sagas may read it.
        return bool(
            request.user.has_perm("django_saga.view_saga")
            or super().has_view_permission(request, obj)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an audit trail

    def get_queryset(self, request: HttpRequest) -> QuerySet[Intervention]:
        # The trail outlives its sagas (AUDIT_RETENTION): each entry's saga,
        # if it still exists, by its primary key; a join would hide the rest.
        sagas = Saga.objects.filter(pk=OuterRef("saga_id"))
        return super().get_queryset(request).annotate(saga_name=Subquery(sagas.values("name")[:1]))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Intervention], search_term: str
    ) -> tuple[QuerySet[Intervention], bool]:
        # Exact matches served by the indexes, never a case-insensitive scan.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(saga_id=term) | Q(batch=term)), False

    @admin.display(description="saga")
    def saga_link(self, entry: Intervention) -> str:
        name = getattr(entry, "saga_name", None)
        if name is None:
            return format_html("{} <em>(purged)</em>", entry.saga_id)
        url = reverse("admin:django_saga_saga_change", args=[entry.saga_id])
        return format_html('<a href="{}">{} {}</a>', url, name, entry.saga_id)

    @admin.display(description="details")
    def details_json(self, entry: Intervention) -> str:
        return json_block(entry.details)


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
class OutboxMessageAdmin(ReadOnlyMixin, NoNulAdmin):
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


# -- API tokens -----------------------------------------------------------------


class ApiTokenForm(forms.ModelForm):
    """A new token: its name, and (for a superuser) whose it is."""

    class Meta:
        model = ApiToken
        fields = ("user", "name")

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        if user is not None and not user.is_active:
            raise forms.ValidationError(
                "This user is inactive: a token of theirs would be refused."
            )
        return user


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(NoNulAdmin):
    """Tokens for the console's JSON API: made here, shown once, revoked by an action.

    A token acts as its user, so a user who is not a superuser makes tokens
    for themselves only, and sees and revokes only their own.
    """

    form = ApiTokenForm
    list_display = ("name", "user", "shown_prefix", "created_at", "last_used_at", "status")
    list_filter = (TokenStatusFilter,)
    list_select_related = ("user",)
    search_fields = ("name", "=prefix")
    search_help_text = "Part of a token's name, or its prefix (the hex after dsg_)."
    ordering = ("-pk",)
    actions = ["revoke_tokens"]
    # An id box, not a menu of every user there is.
    raw_id_fields = ("user",)
    readonly_fields = ("user", "shown_prefix", "created_at", "last_used_at", "revoked_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user=request.user.pk)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None:
            return ("name", *self.readonly_fields)
        return ("user", "name") if request.user.is_superuser else ("name",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        if not request.user.is_superuser:
            obj.user = request.user  # type: ignore[assignment]
        # Kept on the instance for response_add() only: never stored, never logged.
        obj._plaintext = tokens.issue(obj)  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        """The token, shown this once, instead of the usual redirect."""
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "opts": self.opts,
            "token": obj,
            "plaintext": getattr(obj, "_plaintext", ""),
            "api_url": _api_url(),
        }
        request.current_app = self.admin_site.name
        response = TemplateResponse(request, "admin/django_saga/apitoken/created.html", context)
        # Neither the browser nor a proxy keeps a copy of the page.
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="prefix")
    def shown_prefix(self, token: ApiToken) -> str:
        return f"{tokens.TOKEN_PREFIX}{token.prefix}_…"

    @admin.display(description="status")
    def status(self, token: ApiToken) -> str:
        if token.revoked_at is None:
            return badge("completed", "active")
        return badge("failed", "revoked")

    @admin.action(description="Revoke selected API tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = [token for token in queryset if tokens.revoke(token)]
        for token in revoked:
            self.log_change(request, token, "Revoked")
        if revoked:
            self.message_user(
                request,
                ngettext(
                    "%(count)d API token revoked: requests with it are refused from now on.",
                    "%(count)d API tokens revoked: requests with them are refused from now on.",
                    len(revoked),
                )
                % {"count": len(revoked)},
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "The selected tokens were revoked already.", messages.INFO)


def _api_url() -> str | None:
    """The JSON API's saga list, if the project mounts the console."""
    try:
        return reverse("django_saga:api-list")
    except NoReverseMatch:
        return None
