"""Tasks of task steps, read-only: people answer them in the inbox (a task
decides who may), so the admin lists them for whoever looks after the shop,
each with whom it is offered to and how it ended, and links its page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ..models import SagaTask, TaskOffer
from .common import NewestFirstAdmin, ReadOnlyMixin


class TaskOfferInline(ReadOnlyMixin, admin.TabularInline):
    model = TaskOffer
    fields = ("kind", "name", "open")
    readonly_fields = fields
    extra = 0
    max_num = 0
    verbose_name_plural = "offered to"


@admin.register(SagaTask)
class SagaTaskAdmin(ReadOnlyMixin, NewestFirstAdmin):
    """Every task, live and ended: what it asks, who has it, how it ended."""

    list_display = ("created_at", "title", "state", "claimed_by", "due_at", "done_by")
    list_filter = ("state", "overdue")
    search_fields = ("=saga__id", "title", "claimed_by", "done_by")
    search_help_text = "An exact saga id, or part of a title or a user name."
    inlines = [TaskOfferInline]
    readonly_fields = (
        "page", "saga", "step", "attempt", "title", "state", "form", "shown", "due_at",
        "overdue", "escalations", "claimed_by", "claimed_at", "created_at", "done_by",
        "done_at", "reason",
    )  # fmt: skip
    fields = readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # it goes with its saga: the record of who decided what

    @admin.display(description="task page")
    def page(self, task: SagaTask) -> str:
        url = reverse("django_saga:task", args=[task.pk])
        return format_html('<a href="{}">{}</a>', url, url)
