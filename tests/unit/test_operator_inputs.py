"""What an operator types, pastes or points at in the console is refused in a
sentence, never a 500.

JSON nested deeper than Python's reader recurses (the console's step form,
every JSON API body); a NUL character in a list filter, which PostgreSQL
cannot compare with a text column (the console's dashboard, the JSON list, a
re-drive's selection); and the one escaping of stored text for a terminal
(``terminal_text``). The command line's side is tested in
``tests/unit/management/operator_cli``, the admin's in ``tests/unit/admin``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from django_saga.console.formatting import terminal_text
from django_saga.models import Intervention, Saga
from tests.unit.console.helpers import (
    EVERYTHING,
    VIEW,
    build_saga,
    field_errors,
    halted_saga,
    logged_in,
    make_user,
    post_json,
    step_page,
)
from tests.unit.management.operator_cli.helpers import (
    DEEP_FIELD,
    NOT_SHOWN,
    RETITLE,
    RLO,
    escape_of,
    nothing_changed,
)

pytestmark = pytest.mark.django_db


#: An array nested far deeper than Python's JSON reader can follow.
DEEP = "[" * 50_000 + "]" * 50_000


@pytest.fixture
def repairer(django_user_model):
    """A staff user who may view, compensate, retry, skip and re-drive."""
    return make_user(django_user_model, *EVERYTHING, name="repairer")


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


# -- finding 6: a NUL character in a list filter -----------------------------------
@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")


@pytest.mark.parametrize("param", ["name", "key", "q"])
def test_the_dashboard_shows_a_nul_filter_as_an_error_and_matches_nothing(viewer, param):
    build_saga("failed", name="order")
    response = logged_in(viewer).get(reverse("django_saga:dashboard"), {param: "order\x00"})
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(r'<ul class="errorlist" id="filter-error"><li>(.*?)</li>', html)
    assert error is not None
    assert f"The filter &#x27;{param}&#x27; holds a NUL character" in error[1]
    assert response.context["sagas"] == []
    assert "No saga matches." in html
    # The rest of the page is there: the counts by state and what waits for an operator.
    assert [
        row["count"].value for row in response.context["counts"] if row["state"] == "failed"
    ] == [1]


@pytest.mark.parametrize("param", ["name", "key", "q"])
def test_the_json_list_refuses_a_nul_filter_with_400_naming_it(viewer, param):
    build_saga("failed", name="order")
    response = logged_in(viewer).get(reverse("django_saga:api-list"), {param: "\x00"})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert response.json()["message"].startswith(f"The filter '{param}' holds a NUL character")


@pytest.mark.parametrize("cursor", ["before", "after"])
@pytest.mark.parametrize("page", ["django_saga:dashboard", "django_saga:api-list"])
def test_a_nul_in_a_page_cursor_is_a_400_on_the_page_and_the_json_list(viewer, page, cursor):
    build_saga("failed")
    response = logged_in(viewer).get(reverse(page), {cursor: "01\x00"})
    assert response.status_code == 400


def test_a_redrive_selection_holding_a_nul_is_refused_naming_the_field(repairer):
    failed = build_saga("failed", name="order")
    client = logged_in(repairer)
    page = client.post(
        reverse("django_saga:redrive"), {"name": "order\x00", "rate": "1", "reason": "r"}
    )
    assert page.status_code == 400
    assert "Null characters are not allowed." in field_errors(page.content.decode(), "name")
    for field in ("name", "error"):
        response = post_json(
            client, reverse("django_saga:api-redrive"), {field: "\x00", "rate": 1, "reason": "r"}
        )
        assert response.status_code == 400
        message = response.json()["message"]
        assert message.startswith(field) and "NUL" in message
    assert Saga.objects.get(pk=failed.pk).state == "failed"
    assert not Intervention.objects.exists()


# -- finding 11: stored text cannot drive the terminal --------------------------
@pytest.mark.parametrize("char", NOT_SHOWN, ids=escape_of)
def test_every_control_and_bidi_character_is_printed_as_its_escape(char):
    assert terminal_text(f"a{char}b") == f"a{escape_of(char)}b"


def test_text_a_terminal_shows_as_it_is_is_printed_as_it_is():
    text = "Orléans → 東京 🚚 ~ C:\\orders\\x1b (a backslash is text)"
    assert terminal_text(text) == text
    assert terminal_text(terminal_text(f"{RETITLE}{RLO}")) == "\\x1b]0;owned\\x07\\u202e"
    assert terminal_text("\ud800") == "\\ud800"  # a lone surrogate no encoding takes
