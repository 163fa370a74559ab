"""What an operator types, pastes or points at is refused in a sentence, never a 500,
and what the command line prints cannot drive the operator's terminal.

JSON nested deeper than Python's reader recurses (the console's step form,
every JSON API body, ``saga ... --input @FILE``); a NUL character in a list
filter, which PostgreSQL cannot compare with a text column (the console's
dashboard, the JSON list, the admin's lists); escape sequences and bidi
overrides stored in names, keys, errors and trails (``saga show``, ``saga list``).
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_saga.models import Intervention, OutboxMessage, Saga
from tests.unit.test_console_repair import (
    EVERYTHING,
    field_errors,
    halted_saga,
    post_json,
    step_of,
    step_page,
)
from tests.unit.test_views import logged_in, make_user

pytestmark = pytest.mark.django_db

#: An array nested far deeper than Python's JSON reader can follow.
DEEP = "[" * 50_000 + "]" * 50_000
#: The same depth inside a field of an otherwise well-formed object.
DEEP_FIELD = '{"reason": "fixed", "input": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001


@pytest.fixture
def repairer(django_user_model):
    """A staff user who may view, compensate, retry, skip and re-drive."""
    return make_user(django_user_model, *EVERYTHING, name="repairer")


def nothing_changed(saga: Saga) -> None:
    assert step_of(saga, "ship").status == "failed"
    assert Saga.objects.get(pk=saga.pk).state == "halted"
    assert not Intervention.objects.exists()
    assert not OutboxMessage.objects.exists()


def saga_cli(*args: str) -> str:
    out = StringIO()
    call_command("saga", *args, stdout=out)
    return out.getvalue()


# -- finding 4: JSON nested too deep to read --------------------------------------
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


@pytest.mark.parametrize("body", [DEEP, DEEP_FIELD], ids=["body", "field"])
@pytest.mark.parametrize(
    "endpoint",
    ["api-compensate", "api-retry-compensation", "api-retry-step", "api-skip-step", "api-redrive"],
)
def test_every_json_api_body_nested_too_deep_is_a_400_naming_the_problem(repairer, endpoint, body):
    saga = halted_saga()
    args: list[Any] = []
    if endpoint != "api-redrive":
        args = [saga.pk, "ship"] if endpoint.endswith("-step") else [saga.pk]
    response = post_json(logged_in(repairer), reverse(f"django_saga:{endpoint}", args=args), body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert response.json()["message"].startswith("The body is nested too deep to read")
    assert "SAGA['MAX_JSON_DEPTH']" in response.json()["message"]
    nothing_changed(saga)


@pytest.mark.parametrize(
    ("command", "option"), [("retry-step", "--input"), ("skip-step", "--output")]
)
@pytest.mark.parametrize("from_file", [True, False], ids=["file", "argument"])
def test_the_command_refuses_json_nested_too_deep_naming_the_option(
    tmp_path, command, option, from_file
):
    saga = halted_saga()
    given = DEEP_FIELD.replace('"reason": "fixed", "input": ', '"a": ')
    if from_file:
        path = tmp_path / "deep.json"
        path.write_text(given)
        given = f"@{path}"
    with pytest.raises(CommandError) as info:
        saga_cli(command, saga.pk, "ship", option, given, "--reason", "fixed")
    assert str(info.value).startswith(f"{option} is nested too deep to read")
    assert "SAGA['MAX_JSON_DEPTH']" in str(info.value)
    nothing_changed(saga)


def test_the_command_refuses_a_file_that_is_not_unicode_naming_the_option(tmp_path):
    saga = halted_saga()
    path = tmp_path / "latin1.json"
    path.write_bytes('{"city": "Orléans"}'.encode("latin-1"))
    with pytest.raises(CommandError) as info:
        saga_cli("retry-step", saga.pk, "ship", "--input", f"@{path}", "--reason", "fixed")
    assert str(info.value).startswith("--input is not JSON: 'utf-8' codec can't decode")
    nothing_changed(saga)
