"""The forms an operator fills in before acting: why, and with what.

Shared by the console's pages and the admin's actions, so that both ask the
same questions and refuse the same answers in the library's own words.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet

from .. import actions, validation
from ..errors import SagaDefinitionError
from ..models import WAITING_FOR_OPERATOR, Saga, SagaState, SagaStep
from .formatting import json_kind, pretty_json
from .parsing import UnreadableJSON, read_json


def _refused(exc: SagaDefinitionError) -> forms.ValidationError:
    """The library's refusal of a value, as the error shown next to its field."""
    return forms.ValidationError(str(exc))


class ReasonForm(forms.Form):
    """Why the operator acts: the console always asks, for whoever reads the trail."""

    reason = forms.CharField(
        label="Reason",
        # A blank reason is refused in clean_reason(), in the trail's own words.
        required=False,
        strip=False,
        max_length=actions.REASON_MAX_CHARS,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "required": True,
                "placeholder": "Why: the ticket, what was fixed, who agreed",
            }
        ),
    )

    def clean_reason(self) -> str:
        try:
            return actions.reason_text(self.cleaned_data["reason"], required=True)
        except SagaDefinitionError as exc:
            raise _refused(exc) from exc


class StepRepairForm(ReasonForm):
    """A reason, and the JSON object a retried step runs with or a skipped step returns."""

    step_json = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "json"}),
    )

    field_order = ["step_json", "reason"]

    def __init__(self, *args: Any, action: actions.Action, step: SagaStep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert action.data is not None, f"{action.name} takes no JSON object"
        self.step = step
        #: An input: left as it was, the step keeps its own.
        self.keeps_own = action.data.keeps_own
        self.noun = action.data.key
        field = self.fields["step_json"]
        field.label = self.noun.capitalize()
        field.initial = pretty_json(step.input) if self.keeps_own else "{}"
        field.help_text = action.data.help

    def clean_step_json(self) -> dict | None:
        """The object given; None for a retried step's input left as it was."""
        text = self.cleaned_data["step_json"]
        if not text.strip():
            raise forms.ValidationError(f"Give the {self.noun} as a JSON object: {{}} for none.")
        try:
            value = read_json(text, f"The {self.noun}")
        except UnreadableJSON as exc:
            raise forms.ValidationError(f"{exc}.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(
                f"The {self.noun} must be a JSON object ({{...}}), not {json_kind(value)}."
            )
        try:
            checked = actions.json_value(value, f"The {self.noun}")
        except SagaDefinitionError as exc:
            raise _refused(exc) from exc
        if self.keeps_own and checked == self.step.input:
            return None
        return checked


class RateForm(ReasonForm):
    """A re-drive also asks how fast: a burst of retries could swamp the service
    that failed."""

    rate = forms.FloatField(
        label="Rate (sagas a second)",
        initial=1,
        help_text="Each saga of the selection is sent 1 / rate seconds after the one "
        "before, through the outbox: for example 2, or 0.5 for one every two seconds.",
    )

    def clean_rate(self) -> float:
        try:
            return actions.rate_value(self.cleaned_data["rate"])
        except SagaDefinitionError as exc:
            raise _refused(exc) from exc


class RedriveForm(RateForm):
    """Which sagas a bulk re-drive retries, how fast, and why."""

    name = forms.CharField(
        label="Saga name",
        required=False,
        max_length=validation.NAME_MAX_CHARS,
        help_text="The whole name; empty for any.",
    )
    state = forms.ChoiceField(
        label="State",
        required=False,
        choices=[
            ("", "Any of the three"),
            *((state, SagaState(state).label) for state in WAITING_FOR_OPERATOR),
        ],
    )
    error = forms.CharField(
        label="Error contains",
        required=False,
        max_length=validation.ERROR_MAX_CHARS,
        help_text="Part of the saga's error, in any case.",
    )
    older_than = forms.CharField(
        label="Unchanged for at least",
        required=False,
        max_length=20,
        help_text="For example 30m, 12h or 2d; empty for any.",
    )
    field_order = ["name", "state", "error", "older_than", "rate", "reason"]

    def clean_older_than(self) -> timedelta | None:
        text = self.cleaned_data["older_than"].strip()
        if not text:
            return None
        try:
            return validation.age(text, "Unchanged for at least")
        except SagaDefinitionError as exc:
            raise _refused(exc) from exc

    def selection(self) -> QuerySet[Saga]:
        """The sagas chosen, oldest first (call once the form is valid)."""
        data = self.cleaned_data
        return actions.select(
            name=data["name"],
            states=(data["state"],) if data["state"] else (),
            error=data["error"],
            older_than=data["older_than"],
        )
