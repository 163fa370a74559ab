"""What an operator types, pastes or points at is refused in a sentence, never a 500,
and what the command line prints cannot drive the operator's terminal.

JSON nested deeper than Python's reader recurses (the console's step form,
every JSON API body, ``saga ... --input @FILE``); a NUL character in a list
filter, which PostgreSQL cannot compare with a text column (the console's
dashboard, the JSON list, the admin's lists); escape sequences and bidi
overrides stored in names, keys, errors and trails (``saga show``, ``saga list``).
"""

from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_saga.console.formatting import terminal_text
from django_saga.models import ApiToken, Intervention, OutboxMessage, Saga, SagaStep
from tests.unit.test_console_repair import (
    EVERYTHING,
    field_errors,
    halted_saga,
    post_json,
    step_of,
    step_page,
)
from tests.unit.test_views import VIEW, build_saga, logged_in, make_user

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


# -- finding 6: a NUL character in a list filter -----------------------------------
@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw")


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


ADMIN_LISTS = [
    ("saga", {"name": "order\x00"}),
    ("saga", {"key": "\x00"}),
    ("saga", {"state__exact": "failed\x00"}),
    ("saga", {"error__icontains": "\x00"}),
    ("saga", {"definition": "\x00", "state__exact": "failed"}),
    ("intervention", {"action": "\x00"}),
    ("intervention", {"actor": "\x00"}),
    ("outboxmessage", {"kind": "\x00"}),
    ("apitoken", {"name": "\x00"}),
]


@pytest.mark.parametrize(("model", "params"), ADMIN_LISTS)
def test_an_admin_list_filtered_by_a_nul_matches_nothing(root, model, params):
    saga = build_saga("failed", name="order")
    Intervention.objects.create(saga=saga, action="compensate", actor="al", reason="r")
    OutboxMessage.objects.create(saga=saga, kind="execute", body="{}", available_at=saga.created_at)
    response = logged_in(root).get(reverse(f"admin:django_saga_{model}_changelist"), params)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


@pytest.mark.parametrize("model", ["saga", "intervention", "outboxmessage", "apitoken"])
def test_an_admin_search_for_a_nul_is_refused_in_djangos_words(root, model):
    build_saga("failed", name="order")
    response = logged_in(root).get(reverse(f"admin:django_saga_{model}_changelist"), {"q": "\x00"})
    assert response.status_code == 200
    assert "Null characters are not allowed." in [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize("model", ["saga", "intervention", "outboxmessage", "apitoken"])
@pytest.mark.parametrize("view", ["change", "history", "delete"])
@pytest.mark.parametrize("object_id", ["%00", "01AB%00"], ids=["nul", "id-nul"])
def test_an_admin_page_for_an_id_holding_a_nul_is_a_row_that_does_not_exist(
    root, model, view, object_id
):
    url = f"/admin/django_saga/{model}/{object_id}/{view}/"
    response = logged_in(root).get(url, follow=True)
    if model == "intervention" and view == "delete":
        assert response.status_code == 403  # the trail is never deleted, whatever the id
        return
    assert response.status_code == 200
    assert any("doesn\u2019t exist" in str(m) for m in response.context["messages"])


def test_an_admin_action_on_an_id_holding_a_nul_changes_nothing(root):
    failed = build_saga("failed")
    response = logged_in(root).post(
        reverse("admin:django_saga_saga_changelist"),
        {"action": "compensate_sagas", "_selected_action": [failed.pk, "\x00"], "index": 0},
        follow=True,
    )
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert "No row's id holds a NUL character: nothing was changed." in said
    assert Saga.objects.get(pk=failed.pk).state == "failed"
    assert not Intervention.objects.exists()


# -- finding 11: what the command line prints cannot drive the terminal -------------
RETITLE = "\x1b]0;owned\x07"
CLEAR = "\x1b[2J"
RLO = "\u202e"
#: Every character the text output must show as an escape, never as itself.
NOT_SHOWN = [
    *map(chr, range(0x20)),
    "\x7f",
    *map(chr, range(0x80, 0xA0)),
    "\u061c",
    "\u200e",
    "\u200f",
    "\u2028",
    "\u2029",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]


def escape_of(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown_as_is(output: str) -> list[str]:
    """The characters of ``output`` that a terminal would act on (line ends aside)."""
    return sorted({char for line in output.split("\n") for char in line if char in NOT_SHOWN})


def hostile_saga() -> Saga:
    """A halted saga whose stored text is full of escapes, as rows written before
    names and keys were checked, or an outside service's error, may be."""
    saga = Saga.objects.create(
        name=f"order{RETITLE}",
        key=f"inv{RLO}fdp.exe",
        state="halted",
        definition=f"shop{CLEAR}",
        version="2",
        error=f"step 'ship' failed: {CLEAR}carrier down\nretry later\rALL FINE",
    )
    SagaStep.objects.create(
        saga=saga,
        position=0,
        name=f"ship{RLO}",
        action="test.needs_ok",
        status="failed",
        error=f"declined{RETITLE}",
        attempts=1,
        history=[
            {
                "kind": "execute",
                "attempt": 1,
                "outcome": "failed",
                "at": saga.created_at.isoformat(),
                "error": f"provider said \x9b31m{CLEAR}",
                "by": "webhook\x1b[8m",
                "reason": f"late{RLO}",
            }
        ],
    )
    Intervention.objects.create(
        saga=saga,
        action="retry_step",
        step=f"ship{RLO}",
        actor=f"eve{CLEAR}",
        reason=f"fixed{RETITLE}",
    )
    return saga


@pytest.mark.parametrize("char", NOT_SHOWN, ids=escape_of)
def test_every_control_and_bidi_character_is_printed_as_its_escape(char):
    assert terminal_text(f"a{char}b") == f"a{escape_of(char)}b"


def test_text_a_terminal_shows_as_it_is_is_printed_as_it_is():
    text = "Orléans → 東京 🚚 ~ C:\\orders\\x1b (a backslash is text)"
    assert terminal_text(text) == text
    assert terminal_text(terminal_text(f"{RETITLE}{RLO}")) == "\\x1b]0;owned\\x07\\u202e"
    assert terminal_text("\ud800") == "\\ud800"  # a lone surrogate no encoding takes


def test_show_prints_every_stored_escape_as_visible_text():
    saga = hostile_saga()
    output = saga_cli("show", saga.pk)
    assert shown_as_is(output) == []
    lines = output.split("\n")
    assert lines[0] == f"Saga {saga.pk} (order\\x1b]0;owned\\x07)"
    assert "  key:      inv\\u202efdp.exe" in lines
    assert "  defined:  shop\\x1b[2J v2" in lines
    # The error keeps its lines; a carriage return within one is shown, not obeyed.
    assert "  error:    step 'ship' failed: \\x1b[2Jcarrier down" in lines
    assert "            retry later\\x0dALL FINE" in lines
    assert "declined\\x1b]0;owned\\x07" in output  # the step's error
    attempt = next(line for line in lines if "execute #1 failed" in line)
    assert "provider said \\x9b31m\\x1b[2J" in attempt
    assert "[by webhook\\x1b[8m: late\\u202e]" in attempt
    assert "eve\\x1b[2J" in output and "fixed\\x1b]0;owned\\x07" in output  # the trail


def test_list_prints_stored_escapes_visibly_and_its_columns_still_line_up():
    saga = hostile_saga()
    lines = saga_cli("list").splitlines()
    assert shown_as_is("\n".join(lines)) == []
    header, row = lines[0], next(line for line in lines if line.startswith(saga.pk))
    assert "order\\x1b]0;owned\\x07" in row
    # A one-line cell turns line ends into spaces; what else it holds is shown as escapes.
    assert "failed: \\x1b[2Jcarrier down retry later ALL FINE" in row
    assert row.index("halted") == header.index("STATE")


def test_the_json_output_is_ascii_and_gives_the_stored_text_back():
    saga = hostile_saga()
    listed = saga_cli("list", "--json")
    shown = saga_cli("show", saga.pk, "--json")
    assert listed.isascii() and shown.isascii()
    assert json.loads(listed)["name"] == saga.name
    document = json.loads(shown)
    assert (document["key"], document["error"]) == (saga.key, saga.error)
    assert document["steps"][0]["history"][0]["by"] == "webhook\x1b[8m"
    assert document["interventions"][0]["by"] == f"eve{CLEAR}"


def test_action_lines_token_lines_and_refusals_quote_stored_text_escaped(django_user_model):
    failed = Saga.objects.create(name=f"order{CLEAR}", state="failed", error="boom")
    done = saga_cli("compensate", failed.pk, "--reason", "customer cancelled")
    assert done.startswith(f"Saga {failed.pk} (order\\x1b[2J): ") and shown_as_is(done) == []

    user = django_user_model.objects.create_user("ops")
    token = ApiToken.objects.create(
        user=user, name=f"deploys{RETITLE}", prefix="0123456789ab", digest="0" * 64
    )
    listed = saga_cli("token", "list")
    assert "deploys\\x1b]0;owned\\x07" in listed and shown_as_is(listed) == []
    saga_cli("token", "revoke", token.pk)
    with pytest.raises(CommandError) as again:
        saga_cli("token", "revoke", token.pk)
    assert f"({token.name})" not in str(again.value)
    assert "(deploys\\x1b]0;owned\\x07) was revoked" in str(again.value)


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
