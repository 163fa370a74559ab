"""The operators' trail: every action on every saga, read-only, outliving its sagas."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ..actions import ACTIONS
from ..models import Intervention, Saga
from .common import NewestFirstAdmin, ReadOnlyMixin, json_block


class InterventionActionFilter(admin.SimpleListFilter):
    """The actions, known in advance: no scan for the distinct values."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(action.name, action.name.replace("_", " ")) for action in ACTIONS]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Intervention]
    ) -> QuerySet[Intervention]:
        value = self.value()
        return queryset.filter(action=value) if value else queryset


@admin.register(Intervention)
class InterventionAdmin(ReadOnlyMixin, NewestFirstAdmin):
    """Every operator action on every saga: the audit trail, read-only."""

    list_display = ("at", "saga_link", "action_label", "step", "actor")
    list_filter = (InterventionActionFilter,)
    search_fields = ("=saga__id", "=batch")
    search_help_text = "An exact saga id, or a re-drive's id."
    # Bounded like the saga list: newest first by id, no full count, no facets.
    readonly_fields = (
        "id", "saga_link", "action_label", "step", "actor", "reason", "details_json", "batch", "at",
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

    @admin.display(description="action")
    def action_label(self, entry: Intervention) -> str:
        # Its name in words: ``skip step``, not the stored ``skip_step``.
        return entry.action_label

    @admin.display(description="details")
    def details_json(self, entry: Intervention) -> str:
        return json_block(entry.details)
