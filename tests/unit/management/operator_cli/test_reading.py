"""``saga list`` and ``saga show``: sagas found and read from a shell."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from django_saga import manager
from tests.unit.console.helpers import build_saga
from tests.unit.management.operator_cli.helpers import (
    CLEAR,
    halted_saga,
    hostile_saga,
    refused,
    saga,
    shown_as_is,
)
from tests.unit.management.operator_cli.helpers import saga as saga_cli


# -- list -------------------------------------------------------------------------
@pytest.mark.django_db
def test_list_prints_a_table_newest_first():
    older = build_saga("failed", name="order")
    newer = halted_saga(name="refund")
    lines = saga("list").splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATE", "PROGRESS", "UPDATED", "ERROR"]
    assert lines[1].startswith(f"{newer.pk}  refund  halted")
    assert "2/3 steps" in lines[1] and "step 'ship' failed after pivot step" in lines[1]
    assert lines[2].startswith(f"{older.pk}  order   failed")
    assert "1/2 steps" in lines[2]
    assert len(lines) == 3


@pytest.mark.django_db
def test_list_filters_by_state_name_error_and_age():
    failed = build_saga(
        "failed", name="order", error="card declined", updated_ago=timedelta(hours=2)
    )
    halted = halted_saga(name="order")
    done = build_saga("completed", name="refund")

    def listed(*args: str) -> list[str]:
        return [json.loads(line)["saga_id"] for line in saga("list", "--json", *args).splitlines()]

    assert listed() == [done.pk, halted.pk, failed.pk]
    assert listed("--state", "halted") == [halted.pk]
    assert listed("--state", "halted,failed") == [halted.pk, failed.pk]
    assert listed("--state", "failed", "--state", "completed") == [done.pk, failed.pk]
    assert listed("--name", "refund") == [done.pk]
    assert listed("--error", "CARD") == [failed.pk]
    assert listed("--older-than", "1h") == [failed.pk]
    assert listed("--older-than", "3h") == []
    assert listed("--limit", "2") == [done.pk, halted.pk]


@pytest.mark.django_db
def test_list_json_gives_each_saga_with_its_progress():
    halted = halted_saga()
    [line] = saga("list", "--json").splitlines()
    row = json.loads(line)
    assert row["saga_id"] == halted.pk and row["state"] == "halted" and row["name"] == "order"
    assert (row["steps_done"], row["steps_total"]) == (2, 3)
    assert row["error"].startswith("step 'ship' failed after pivot step 'capture'")
    assert row["updated_at"] and row["completed_at"] is None


@pytest.mark.django_db
def test_the_json_of_list_and_show_names_fields_as_the_json_api_does(django_user_model):
    """A script moves between the command and the API without renaming a field:
    each of the API's fields has the same name and value here (the API's ``url``
    aside, a path on the web server that means nothing in a shell)."""
    from django.urls import reverse

    from tests.unit.console.helpers import VIEW, logged_in, make_user

    halted = halted_saga()
    manager.skip_step(halted.pk, "ship", {"tracking": "t-1"}, by="bob", reason="shipped by hand")
    client = logged_in(make_user(django_user_model, VIEW))
    [api_row] = client.get(reverse("django_saga:api-list")).json()["results"]
    [cli_row] = [json.loads(line) for line in saga("list", "--json").splitlines()]
    del api_row["url"]
    assert {key: cli_row.get(key) for key in api_row} == api_row
    assert cli_row["saga_id"] == halted.pk
    # What the command adds: ``id``, for scripts written before the names agreed.
    assert set(cli_row) - set(api_row) == {"id"}

    api_saga = client.get(reverse("django_saga:api-detail", args=[halted.pk])).json()
    cli_saga = json.loads(saga("show", halted.pk, "--json"))
    api_steps, cli_steps = api_saga.pop("steps"), cli_saga["steps"]
    assert {key: cli_saga.get(key) for key in api_saga} == api_saga
    assert len(cli_steps) == len(api_steps) == 3
    for api_step, cli_step in zip(api_steps, cli_steps, strict=True):
        assert {key: cli_step.get(key) for key in api_step} == api_step


@pytest.mark.django_db
def test_list_says_when_nothing_matches_and_when_there_is_more():
    assert saga("list").strip() == "No saga matches."
    for _ in range(3):
        build_saga("failed")
    assert (
        saga("list", "--limit", "2").splitlines()[-1] == "The newest 2 shown; --limit shows more."
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--state", "done"), "--state 'done': saga states are started, completed, failed"),
        (("--older-than", "soon"), "--older-than 'soon' is not an age"),
        (("--limit", "0"), "argument --limit: give 1 to 10,000, not 0"),
        (("--limit", "many"), "argument --limit: 'many' is not a whole number"),
    ],
)
def test_list_refuses_bad_filters_naming_the_option(args, message):
    assert message in refused("list", *args)


# -- show -------------------------------------------------------------------------
@pytest.mark.django_db
def test_show_prints_the_saga_its_steps_their_attempts_and_the_trail():
    halted = halted_saga()
    manager.retry_step(halted.pk, "ship", {"address": "new"}, by="alice", reason="address fixed")
    text = saga("show", halted.pk)
    # The retry sent the saga on again.
    assert text.startswith(f"Saga {halted.pk} (order)\n  state:    started\n")
    steps = text[text.index("Steps:") : text.index("Attempts:")].splitlines()[1:]
    assert steps[0].split() == [
        "#", "STAGE", "NAME", "STATUS", "PIVOT", "ATTEMPTS", "INPUT", "OUTPUT", "ERROR",
    ]  # fmt: skip
    assert steps[1].split()[:5] == ["1", "1", "reserve", "completed", "1"]
    assert steps[2].split()[:5] == ["2", "2", "capture", "completed", "pivot"]
    assert steps[3].split()[:5] == ["3", "3", "ship", "started", "2"]
    assert '{"address": "new"}' in steps[3]
    attempts = text[text.index("Attempts:") : text.index("Trail")]
    assert "execute #1 failed at 2025-01-02 03:04:05 (7 ms): RetryableError: carrier down" in (
        attempts
    )
    assert "execute #1 resumed at" in attempts and "[by alice: address fixed]" in attempts
    trail = text[text.index("Trail (what operators did):") :].splitlines()
    assert trail[1].split() == ["AT", "BY", "ACTION", "STEP", "RE-DRIVE", "REASON"]
    assert "alice  retry step  ship  -         address fixed" in trail[2]


@pytest.mark.django_db
def test_show_names_the_state_and_error_and_says_when_no_operator_has_acted():
    halted = halted_saga()
    lines = saga("show", halted.pk).splitlines()
    assert lines[1:3] == ["  state:    halted (an operator must act)", "  progress: 2/3 steps done"]
    assert (
        "  error:    step 'ship' failed after pivot step 'capture' completed: carrier down" in lines
    )
    assert lines[-1] == "Trail: no operator has acted on this saga."


@pytest.mark.django_db
def test_show_json_gives_the_saga_steps_history_and_trail():
    halted = halted_saga()
    manager.skip_step(halted.pk, "ship", {"tracking": "t-1"}, by="bob", reason="shipped by hand")
    document = json.loads(saga("show", halted.pk, "--json"))
    assert document["saga_id"] == halted.pk and document["state"] == "completed"
    assert [s["name"] for s in document["steps"]] == ["reserve", "capture", "ship"]
    assert [s["pivot"] for s in document["steps"]] == [False, True, False]
    ship = document["steps"][2]
    assert ship["output"] == {"tracking": "t-1"} and ship["input"] == {"address": "old"}
    assert [e["outcome"] for e in ship["history"]] == ["failed", "skipped"]
    [entry] = document["interventions"]
    assert (entry["by"], entry["action"], entry["step"], entry["reason"]) == (
        "bob",
        "skip_step",
        "ship",
        "shipped by hand",
    )
    assert entry["details"]["output"] == {"tracking": "t-1"}


@pytest.mark.django_db
def test_show_refuses_an_unknown_saga():
    assert refused("show", "01NOSUCHSAGA") == "No saga with id '01NOSUCHSAGA'"


# -- stored text that would drive a terminal ---------------------------------------
@pytest.mark.django_db
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


@pytest.mark.django_db
def test_list_prints_stored_escapes_visibly_and_its_columns_still_line_up():
    saga = hostile_saga()
    lines = saga_cli("list").splitlines()
    assert shown_as_is("\n".join(lines)) == []
    header, row = lines[0], next(line for line in lines if line.startswith(saga.pk))
    assert "order\\x1b]0;owned\\x07" in row
    # A one-line cell turns line ends into spaces; what else it holds is shown as escapes.
    assert "failed: \\x1b[2Jcarrier down retry later ALL FINE" in row
    assert row.index("halted") == header.index("STATE")


@pytest.mark.django_db
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


@pytest.mark.django_db
def test_the_command_lists_by_key_and_shows_it(sagas):
    out = StringIO()
    call_command("saga", "list", "--key", "order-123", "--json", stdout=out)
    listed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(s["id"], s["key"]) for s in listed] == [
        (sagas["again"].pk, "order-123"),
        (sagas["first"].pk, "order-123"),
    ]
    out = StringIO()
    call_command("saga", "show", sagas["other"].pk, stdout=out)
    assert "  key:      order-124" in out.getvalue().splitlines()
