"""The saga's page: its first steps, and the latest entries of its trail."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import slugify

from ..models import Intervention, SagaStep, StepStatus
from .common import (
    INLINE_TRAIL,
    FirstStepsFormSet,
    LatestTrailFormSet,
    ReadOnlyMixin,
    SeenWithTheSaga,
    badge,
    console_url,
    json_block,
)


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
    fields = ("at", "actor", "action_label", "step", "reason", "redrive")
    readonly_fields = fields

    @admin.display(description="action")
    def action_label(self, entry: Intervention) -> str:
        # Its name in words: ``skip step``, not the stored ``skip_step``.
        return entry.action_label

    @admin.display(description="re-drive")
    def redrive(self, entry: Intervention) -> str:
        if not entry.batch:
            return ""
        url = reverse("admin:django_saga_intervention_changelist")
        return format_html(
            '<a href="{}?{}">{}</a>', url, urlencode({"batch": entry.batch}), entry.batch
        )
