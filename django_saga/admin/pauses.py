"""Pauses of actions and saga names, and the messages held, read-only: a
pause is made and ended through the manager (``manage.py saga flow``), and
each row is its own trail."""

from __future__ import annotations

from django.contrib import admin

from ..models import HeldMessage, Pause
from .common import BoundedPaginator, NoNulAdmin, ReadOnlyMixin


@admin.register(Pause)
class PauseAdmin(ReadOnlyMixin, NoNulAdmin):
    """Every pause, the ones in force and the ended ones: who, when, why."""

    list_display = ("scope", "pattern", "paused_by", "paused_at", "reason", "resumed_at")
    list_filter = ("scope",)
    search_fields = ("pattern",)
    ordering = ("-pk",)
    sortable_by = ()
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedPaginator
    readonly_fields = (
        "scope", "pattern", "reason", "paused_by", "paused_at",
        "resumed_by", "resumed_at", "resume_reason",
    )  # fmt: skip
    fields = readonly_fields


@admin.register(HeldMessage)
class HeldMessageAdmin(ReadOnlyMixin, NoNulAdmin):
    """Messages waiting for a slot of a limited action, or for a pause to end."""

    list_display = ("created_at", "saga_id", "step_id", "kind", "action", "key", "paused")
    list_filter = ("paused", "kind")
    search_fields = ("=saga_id", "action")
    search_help_text = "An exact saga id, or part of an action's name."
    ordering = ("-pk",)
    sortable_by = ()
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedPaginator
    readonly_fields = (
        "saga_id", "step_id", "kind", "attempt", "action", "key", "paused", "pause_id",
        "created_at",
    )  # fmt: skip
    fields = readonly_fields
