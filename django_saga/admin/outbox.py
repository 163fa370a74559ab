"""The outbox: what the relay publishes; a row is deleted only once sent."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ..messages import KINDS
from ..models import OutboxMessage
from .common import NewestFirstAdmin, ReadOnlyMixin


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
class OutboxMessageAdmin(ReadOnlyMixin, NewestFirstAdmin):
    list_display = ("id", "kind", "saga", "created_at", "available_at", "sent_at")
    list_filter = (OutboxKindFilter,)
    list_select_related = ("saga",)
    # An hour of sent rows at full speed is millions: bounded like the saga list.
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
