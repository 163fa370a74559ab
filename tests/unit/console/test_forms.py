"""The forms an operator fills in before acting: why, with what input or
output, and which sagas a re-drive retries how fast."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_saga.actions import RETRY_STEP, SKIP_STEP
from django_saga.console.forms import RateForm, ReasonForm, RedriveForm, StepRepairForm
from django_saga.models import Saga, SagaStep
from tests.unit.console.helpers import (
    DEEP,
    build_saga,
    field_errors,
    halted_saga,
    logged_in,
    step_page,
)
from tests.unit.management.operator_cli.helpers import nothing_changed


def errors(form: ReasonForm, field: str) -> list[str]:
    assert not form.is_valid()
    return list(form.errors[field])


@pytest.mark.parametrize("blank", ["", "  \n\t "])
def test_a_reason_is_required_and_kept_without_its_surrounding_blanks(blank):
    assert errors(ReasonForm({"reason": blank}), "reason") == [
        "A reason is required: say why, for whoever reads the trail"
    ]
    form = ReasonForm({"reason": "  ticket 12:\n  the carrier is back  "})
    assert form.is_valid()
    assert form.cleaned_data["reason"] == "ticket 12:\n  the carrier is back"


def test_a_reason_that_steers_a_terminal_is_refused_in_the_trails_words():
    message = errors(ReasonForm({"reason": "ok\x1b[2J"}), "reason")[0]
    assert message.startswith("reason holds a control character (\\x1b)")


def retry_form(step_json: str, **step: object) -> StepRepairForm:
    ship = SagaStep(name="ship", input={"parcel": "p-1"}, **step)
    return StepRepairForm({"reason": "r", "step_json": step_json}, action=RETRY_STEP, step=ship)


def test_a_retry_offers_the_steps_input_and_keeps_it_when_left_as_it_was():
    form = retry_form('{"parcel":  "p-1"}')
    assert form.fields["step_json"].label == "Input"
    assert form.fields["step_json"].initial == '{\n  "parcel": "p-1"\n}'
    assert form.is_valid()
    # Unchanged: None, so the step keeps its own input and the trail records none.
    assert form.cleaned_data["step_json"] is None
    changed = retry_form('{"parcel": "p-2"}')
    assert changed.is_valid() and changed.cleaned_data["step_json"] == {"parcel": "p-2"}


def test_a_skip_offers_an_empty_output_and_takes_it_as_given():
    ship = SagaStep(name="ship", input={"parcel": "p-1"})
    form = StepRepairForm({"reason": "r", "step_json": "{}"}, action=SKIP_STEP, step=ship)
    assert form.fields["step_json"].label == "Output"
    assert form.fields["step_json"].initial == "{}"
    assert form.is_valid() and form.cleaned_data["step_json"] == {}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "Give the input as a JSON object: {} for none."),
        ('{"parcel": ', "The input is not JSON: Expecting value (line 1, column 12)."),
        ('"p-1"', "The input must be a JSON object ({...}), not a string."),
        ("[" * 100_000, "The input is nested too deep to read"),
    ],
)
def test_a_step_json_it_cannot_use_is_refused_saying_why(text, error):
    assert errors(retry_form(text), "step_json")[0].startswith(error)


@pytest.mark.django_db
@pytest.mark.parametrize("operation", ["retry-step", "skip-step"])
def test_the_step_form_refuses_json_nested_too_deep_next_to_the_field(repairer, operation):
    saga = halted_saga()
    response = logged_in(repairer).post(
        step_page(operation, saga, "ship"), {"reason": "fixed", "step_json": DEEP}
    )
    assert response.status_code == 400
    error = field_errors(response.content.decode(), "step_json")
    noun = "input" if operation == "retry-step" else "output"
    assert f"The {noun} is nested too deep to read" in error
    assert "SAGA[&#x27;MAX_JSON_DEPTH&#x27;]" in error
    nothing_changed(saga)


@pytest.mark.parametrize(
    ("rate", "error"),
    [("0", "rate must be above 0"), ("fast", "Enter a number."), ("1e-9", "rate must be at least")],
)
def test_a_rate_the_engine_cannot_pace_is_refused(rate, error):
    assert errors(RateForm({"reason": "r", "rate": rate}), "rate")[0].startswith(error)
    assert RateForm({"reason": "r", "rate": "0.5"}).is_valid()


def redrive_form(**fields: str) -> RedriveForm:
    data = {"name": "", "state": "", "error": "", "older_than": "", "rate": "1", "reason": "r"}
    return RedriveForm({**data, **fields})


def test_a_redrive_reads_an_age_and_offers_only_the_states_an_operator_waits_in():
    form = redrive_form(older_than=" 30m ")
    assert form.is_valid() and form.cleaned_data["older_than"] == timedelta(minutes=30)
    blank = redrive_form()
    assert blank.is_valid() and blank.cleaned_data["older_than"] is None
    assert "is not an age" in errors(redrive_form(older_than="soon"), "older_than")[0]
    offered = [value for value, _ in RedriveForm().fields["state"].choices]
    assert offered[0] == "" and set(offered[1:]) == {"failed", "halted", "compensation_failed"}
    assert errors(redrive_form(state="completed"), "state")[0].startswith("Select a valid choice.")


@pytest.mark.django_db
def test_a_redrive_selects_the_waiting_sagas_it_names_oldest_first():
    old = [halted_saga(updated_ago=timedelta(hours=2)) for _ in range(2)]
    recent = halted_saga()
    declined = build_saga("failed", name="refund", error="card DECLINED")
    build_saga("completed")

    def chosen(**fields: str) -> list[str]:
        form = redrive_form(**fields)
        assert form.is_valid(), form.errors
        return list(form.selection().values_list("pk", flat=True))

    assert chosen() == sorted([*(s.pk for s in old), recent.pk, declined.pk])
    assert chosen(state="halted", older_than="1h") == sorted(s.pk for s in old)
    assert chosen(error="declined") == [declined.pk]
    assert chosen(name="refund", state="halted") == []
    assert Saga.objects.filter(state="halted").count() == 3
