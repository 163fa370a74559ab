"""Read-only admin for sagas: state changes go through the manager, never a form."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import OutboxMessage, Saga, SagaStep


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SagaStepInline(ReadOnlyMixin, admin.TabularInline):
    model = SagaStep
    extra = 0
    can_delete = False
    ordering = ("position",)
    fields = (
        "position", "name", "action", "compensation", "status", "attempts",
        "error", "input", "output", "executed_at", "compensated_at",
    )  # fmt: skip
    readonly_fields = fields


@admin.register(Saga)
class SagaAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "name", "state", "created_at", "updated_at", "completed_at")
    list_filter = ("state", "name", "created_at")
    search_fields = ("=id", "name")
    date_hierarchy = "created_at"
    readonly_fields = (
        "id", "name", "state", "context", "error", "created_at", "updated_at", "completed_at",
    )  # fmt: skip
    inlines = [SagaStepInline]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "saga", "created_at", "available_at", "sent_at")
    list_filter = ("kind",)
    readonly_fields = ("id", "saga", "kind", "body", "created_at", "available_at", "sent_at")
