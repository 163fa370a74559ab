"""The sagas: a bounded list, read-only pages, deleted only once finished."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from ..console.formatting import format_duration, progress_text, saga_duration
from ..console.queries import attach_progress, saga_names, search
from ..models import TERMINAL_STATES, Saga
from .bulk import SelectionActions
from .common import (
    INLINE_STEPS,
    NewestFirstAdmin,
    NoNulChangeList,
    ReadOnlyMixin,
    badge,
    console_url,
    json_block,
)
from .inlines import InterventionInline, SagaStepInline


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


@admin.register(Saga)
class SagaAdmin(ReadOnlyMixin, SelectionActions, NewestFirstAdmin):
    list_display = (
        "id", "name", "key", "state_badge", "progress", "created_at", "updated_at", "duration",
    )  # fmt: skip
    list_filter = ("state", SagaNameFilter, "created_at")
    # What the box searches is search() below: an exact id or key, or part of a name.
    search_fields = ("=id", "=key", "name")
    search_help_text = "An exact saga id or business key, or part of a saga's name."
    list_per_page = 50
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

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only a saga that has nothing left to do or undo; never in bulk
        # (delete_selected is removed above).
        if obj is not None and obj.state not in TERMINAL_STATES:
            return False
        return bool(super().has_delete_permission(request, obj))

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
