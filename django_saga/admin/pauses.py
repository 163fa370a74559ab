"""Pauses of actions and saga names, and the messages held.

Whoever holds ``pause_actions`` pauses from the add page (what, the
pattern, why: ``manager.pause``) and resumes the selected pauses in force
(asked why: ``manager.resume``); a pause row is never edited, as it is its
own trail. Held messages are read-only: they leave as their slot or their
pause's end lets them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from ..actions import reason_text
from ..actions.pauses import PAUSE_PERMISSION
from ..api import manager
from ..errors import InvalidStateTransition, SagaDefinitionError
from ..models import HeldMessage, Pause, Scope
from .asking import asks_why
from .common import NewestFirstAdmin, ReadOnlyMixin


class PauseForm(forms.ModelForm):
    """What to pause and why, checked as ``manager.pause`` checks it."""

    class Meta:
        model = Pause
        fields = ("scope", "pattern", "reason")
        widgets = {"reason": forms.Textarea(attrs={"rows": 2})}

    def clean_reason(self) -> str:
        try:
            return reason_text(self.cleaned_data["reason"], required=True)
        except SagaDefinitionError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        scope, pattern = data.get("scope"), data.get("pattern")
        if scope and pattern is not None:
            in_force = Pause.objects.filter(scope=scope, pattern=pattern, resumed_at__isnull=True)
            if in_force.exists():
                raise forms.ValidationError(
                    f"{Scope(scope).label.capitalize()} {pattern} is paused already."
                )
        return data

    def validate_unique(self) -> None:
        """Checked by ``clean`` in words an operator reads; the manager has the last word."""


def _resume(pause: Pause, **why: Any) -> None:
    if pause.resumed_at is not None:
        raise InvalidStateTransition(f"{pause} was resumed already, on {pause.resumed_at:%c}.")
    manager.resume(**{pause.scope: pause.pattern}, **why)


@admin.register(Pause)
class PauseAdmin(NewestFirstAdmin):
    """Every pause, the ones in force and the ended ones: who, when, why."""

    form = PauseForm
    list_display = ("scope", "pattern", "paused_by", "paused_at", "reason", "resumed_at")
    list_filter = ("scope",)
    search_fields = ("pattern",)
    shown = (
        "scope", "pattern", "reason", "paused_by", "paused_at",
        "resumed_by", "resumed_at", "resume_reason",
    )  # fmt: skip
    actions = [
        asks_why(
            "resume_pauses",
            "Resume",
            "What each pause held is sent again by the engines and goes through its "
            "action's limits, so a provider back from an outage gets its rate.",
            "pause",
            str,
            _resume,
            "pause(s)",
        )
    ]

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(PAUSE_PERMISSION))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_pause_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the trail of who paused what stays

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else self.shown

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("scope", "pattern", "reason") if obj is None else self.shown

    def save_model(self, request: HttpRequest, obj: Pause, form: Any, change: bool) -> None:
        """Pause through the manager (who, why, the same checks as every door)."""
        subject = {obj.scope: obj.pattern}
        try:
            made = manager.pause(**subject, by=request.user, reason=obj.reason)
        except InvalidStateTransition as exc:  # paused by someone else since the form
            made = Pause.objects.get(scope=obj.scope, pattern=obj.pattern, resumed_at__isnull=True)
            self.message_user(request, str(exc), messages.WARNING)
        obj.pk, obj.paused_by, obj.paused_at = made.pk, made.paused_by, made.paused_at
        obj.reason = made.reason


@admin.register(HeldMessage)
class HeldMessageAdmin(ReadOnlyMixin, NewestFirstAdmin):
    """Messages waiting for a slot of a limited action, or for a pause to end."""

    list_display = ("created_at", "saga_id", "step_id", "kind", "action", "key", "paused")
    list_filter = ("paused", "kind")
    search_fields = ("=saga_id", "action")
    search_help_text = "An exact saga id, or part of an action's name."
    readonly_fields = (
        "saga_id", "step_id", "kind", "attempt", "action", "key", "paused", "pause_id",
        "created_at",
    )  # fmt: skip
    fields = readonly_fields
