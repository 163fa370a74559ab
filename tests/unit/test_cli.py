"""``manage.py saga``: list, show and repair sagas from a shell, with clear refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from django_saga import Step, manager
from django_saga.management.commands import saga as saga_command
from django_saga.management.operator_cli import acting as cli_acting
from django_saga.models import Intervention, OutboxMessage, Saga, SagaStep
from tests import factories
from tests.conftest import ROOT
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.test_views import build_saga

REASON = ("--reason", "the carrier is back")


def saga(*args: str) -> str:
    """Run ``manage.py saga ARGS`` in this process; what it printed."""
    out = StringIO()
    call_command("saga", *args, stdout=out)
    return out.getvalue()


def refused(*args: str) -> str:
    """Run a command that must be refused; the sentence it is refused with."""
    with pytest.raises(CommandError) as info:
        saga(*args)
    return str(info.value)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m django saga ARGS`` in a subprocess, on the test database."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["SAGA_TEST_USE_TEST_DB"] = django_settings.DATABASES["default"]["NAME"]
    return subprocess.run(
        [sys.executable, "-m", "django", "saga", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def state_of(saga_id: str) -> str:
    return Saga.objects.get(pk=saga_id).state


def halted_saga(name: str = "order") -> Saga:
    """With an attempt in the ship step's history, for ``show``."""
    return factories.halted_saga(
        name,
        input={"address": "old"},
        history=[
            {
                "kind": "execute",
                "attempt": 1,
                "outcome": "failed",
                "at": "2025-01-02T03:04:05+00:00",
                "duration_ms": 7,
                "error": "RetryableError: carrier down",
            }
        ],
    )


def shop(ship: str = "test.needs_ok", ship_input: dict | None = None) -> list[Step]:
    """Reserve (undoable), capture (the pivot), ship: a failing ship halts the saga."""
    return [
        Step("reserve", "test.record", "test.undo"),
        Step("capture", "test.record", pivot=True),
        Step("ship", ship, input=ship_input or {}),
    ]


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

    from tests.unit.test_views import VIEW, logged_in, make_user

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


# -- the actions --------------------------------------------------------------------
@pytest.mark.django_db
def test_compensate_requests_compensation_and_names_the_shell_user():
    failed = build_saga("failed")
    out = saga("compensate", failed.pk, *REASON)
    assert out.strip() == (
        f"Saga {failed.pk} (order): Compensation requested: completed steps are being "
        "undone, last first. It is now compensating."
    )
    assert OutboxMessage.objects.filter(saga=failed, kind="compensate").count() == 1
    [entry] = Intervention.objects.filter(saga=failed)
    assert entry.action == "compensate" and entry.reason == "the carrier is back"
    assert entry.actor == saga_command.default_actor()
    assert entry.actor.endswith(" (command line)") and "@" in entry.actor


@pytest.mark.django_db
def test_retry_compensation_resumes_a_failed_compensation():
    broken = build_saga("compensation_failed")
    out = saga("retry-compensation", broken.pk, *REASON, "--by", "ops on call")
    assert out.strip().endswith("It is now compensating.")
    [entry] = Intervention.objects.filter(saga=broken)
    # Marked: a name given with --by is never taken for the Django user of that name.
    assert (entry.action, entry.actor) == (
        "retry_compensation",
        "ops on call (named on the command line)",
    )


@pytest.mark.django_db
def test_retry_step_with_new_input_records_it_under_the_django_user(django_user_model):
    olga = django_user_model.objects.create_user("olga")
    olga.user_permissions.add(Permission.objects.get(codename="retry_saga_step"))
    halted = halted_saga()
    out = saga(
        "retry-step", halted.pk, "ship", "--input", '{"address": "new"}', *REASON, "--user", "olga"
    )
    assert out.strip() == (
        f"Saga {halted.pk} (order): step 'ship': Step sent again: the saga goes on once it "
        "succeeds. It is now started."
    )
    ship = SagaStep.objects.get(saga=halted, name="ship")
    assert (ship.status, ship.input, ship.attempts) == ("started", {"address": "new"}, 2)
    [entry] = Intervention.objects.filter(saga=halted)
    assert (entry.action, entry.step, entry.actor) == ("retry_step", "ship", "olga")
    assert entry.details["previous_input"] == {"address": "old"}
    [log] = LogEntry.objects.filter(object_id=halted.pk)
    assert log.user == olga
    assert log.get_change_message() == "Retry step 'ship': the carrier is back"


@pytest.mark.django_db
def test_user_must_hold_the_actions_permission_as_in_the_console(django_user_model):
    django_user_model.objects.create_user("intern")
    halted = halted_saga()
    message = refused("retry-step", halted.pk, "ship", *REASON, "--user", "intern")
    assert message == (
        "--user 'intern' does not hold the permission 'django_saga.retry_saga_step' "
        "this action needs (as in the console)"
    )
    assert SagaStep.objects.get(saga=halted, name="ship").status == "failed"
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_retry_step_reads_its_input_from_a_file(tmp_path):
    halted = halted_saga()
    source = tmp_path / "input.json"
    source.write_text('{"address": "from a file"}')
    saga("retry-step", halted.pk, "ship", "--input", f"@{source}", *REASON)
    assert SagaStep.objects.get(saga=halted, name="ship").input == {"address": "from a file"}


@pytest.mark.django_db
def test_skip_step_records_the_output_and_goes_on():
    halted = halted_saga()
    out = saga("skip-step", halted.pk, "ship", "--output", '{"tracking": "t-9"}', *REASON)
    assert out.strip().endswith("It is now completed.")
    ship = SagaStep.objects.get(saga=halted, name="ship")
    assert (ship.status, ship.output) == ("completed", {"tracking": "t-9"})
    assert Intervention.objects.get(saga=halted).action == "skip_step"


# -- refusals -----------------------------------------------------------------------
@pytest.mark.django_db
def test_actions_the_state_does_not_allow_are_refused_with_the_managers_sentence():
    halted = halted_saga()
    done = build_saga("compensated")
    assert refused("compensate", halted.pk, *REASON) == (
        f"Saga {halted.pk} is past its pivot step 'capture': what it did cannot be undone, "
        "so it cannot be compensated; retry or skip the failed step instead."
    )
    assert refused("compensate", done.pk, *REASON) == f"Saga {done.pk} is already compensated."
    assert refused("retry-compensation", halted.pk, *REASON) == (
        f"Saga {halted.pk} is halted (an operator must act); only a saga whose compensation "
        "failed can have it retried."
    )
    assert refused("retry-step", halted.pk, "capture", *REASON) == (
        f"Step 'capture' of saga {halted.pk} is completed; only a failed step can be retried."
    )
    assert refused("skip-step", halted.pk, "nope", *REASON) == (
        f"Saga {halted.pk} has no step 'nope'"
    )
    assert refused("retry-step", "01NOSUCHSAGA", "ship", *REASON) == (
        "No saga with id '01NOSUCHSAGA'"
    )
    assert state_of(halted.pk) == "halted"
    assert not Intervention.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--input", "{oops"), "--input is not JSON: Expecting property name enclosed"),
        (("--input", "[1, 2]"), "--input must be a JSON object, like '{\"ok\": true}'; got list"),
        (("--input", "@/no/such/file.json"), "--input: cannot read /no/such/file.json"),
        (("--user", "nobody"), "--user 'nobody': no such Django user"),
        (("--by", "  "), "--by must name who acts"),
        (("--by", "x" * 171), "--by is 171 characters long, over the limit of 170"),
        (("--by", "al", "--user", "al"), "argument --user: not allowed with argument --by"),
    ],
)
def test_bad_input_is_refused_naming_the_option(args, message):
    halted = halted_saga()
    assert message in refused("retry-step", halted.pk, "ship", *REASON, *args)
    assert SagaStep.objects.get(saga=halted, name="ship").status == "failed"
    assert not Intervention.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("reason", [(), ("--reason", "   ")])
def test_every_action_needs_a_reason(reason):
    failed = build_saga("failed")
    message = refused("compensate", failed.pk, *reason)
    assert "--reason" in message or message.startswith("A reason is required")
    assert state_of(failed.pk) == "failed"


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_refusal_exits_non_zero_with_the_sentence():
    done = build_saga("compensated")
    result = run_cli("compensate", done.pk, *REASON)
    assert result.returncode == 1
    assert result.stderr.strip() == f"CommandError: Saga {done.pk} is already compensated."
    assert result.stdout == ""
    without_reason = run_cli("compensate", done.pk)
    assert without_reason.returncode == 2
    assert "the following arguments are required: --reason" in without_reason.stderr
    shown = run_cli("show", done.pk)
    assert shown.returncode == 0 and shown.stdout.startswith(f"Saga {done.pk} (order)")


# -- redrive ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "per_second"),
    [("5/s", 5), ("5", 5), ("0.5/s", 0.5), ("30/m", 0.5), (" 2 / s ", 2), ("7200/h", 2)],
)
def test_a_rate_is_sagas_a_second_or_a_minute(text, per_second):
    assert saga_command.parse_rate(text) == per_second


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rate", "message"),
    [
        ("5/x", "--rate '5/x' is not a rate: give sagas a second or a minute, for example 5/s"),
        ("fast", "--rate 'fast' is not a rate"),
        ("0/s", "--rate '0/s': rate must be above 0 and at most 10000 sagas a second"),
        ("20000", "--rate '20000': rate must be above 0 and at most 10000 sagas a second"),
    ],
)
def test_redrive_refuses_a_rate_it_cannot_read(rate, message):
    halted = halted_saga()
    assert message in refused("redrive", "--rate", rate, *REASON)
    assert state_of(halted.pk) == "halted"


@pytest.mark.django_db
def test_redrive_takes_only_sagas_that_wait_for_an_operator():
    assert refused("redrive", "--state", "completed", "--rate", "5/s", *REASON) == (
        "--state 'completed': the states a re-drive takes are failed, halted, compensation_failed"
    )


@pytest.mark.django_db
def test_redrive_dry_run_says_how_many_and_how_long_and_changes_nothing():
    first, second = halted_saga(), halted_saga(name="refund")
    broken = build_saga("compensation_failed")
    build_saga("completed")
    out = saga("redrive", "--rate", "2/s", "--dry-run", *REASON)
    assert out.splitlines() == [
        "Would re-drive 3 sagas (1 compensation_failed, 2 halted) at 2 a second: the last is "
        "sent 1.0 s from now.",
        "Dry run: nothing was changed.",
    ]
    assert {state_of(s.pk) for s in (first, second)} == {"halted"}
    assert state_of(broken.pk) == "compensation_failed"
    assert not Intervention.objects.exists() and not OutboxMessage.objects.exists()
    filtered = saga("redrive", "--rate", "30/m", "--name", "refund", "--dry-run", *REASON)
    assert filtered.startswith("Would re-drive 1 saga (1 halted) at 0.5 a second: sent at once.")
    limited = saga(
        "redrive", "--rate", "1", "--limit", "1", "--state", "halted", "--dry-run", *REASON
    )
    assert limited.startswith("Would re-drive 1 saga (1 halted)")


@pytest.mark.django_db
def test_redrive_with_nothing_to_do_says_so():
    build_saga("completed")
    out = saga("redrive", "--rate", "5/s", *REASON)
    assert out.strip() == "No saga waiting for an operator matches: nothing to re-drive."


@pytest.mark.django_db
def test_redrive_without_waiting_schedules_and_says_how_to_follow(monkeypatch):
    halted = [halted_saga() for _ in range(2)]
    out = saga("redrive", "--rate", "10/s", "--no-wait", *REASON, "--by", "ops").splitlines()
    [batch] = set(Intervention.objects.values_list("batch", flat=True))
    assert out == [
        "Re-driving 2 sagas (2 halted) at 10 a second: the last is sent 100 ms from now.",
        f"Re-drive {batch}: 2 scheduled, 0 refused.",
        f"Follow it with: manage.py saga list --batch {batch}",
    ]
    assert {state_of(s.pk) for s in halted} == {"started"}
    assert {e.actor for e in Intervention.objects.all()} == {"ops (named on the command line)"}
    listed = [
        json.loads(line)["saga_id"]
        for line in saga("list", "--batch", batch, "--json").splitlines()
    ]
    assert sorted(listed) == sorted(s.pk for s in halted)


@pytest.mark.django_db
def test_redrive_stops_watching_at_its_timeout_and_says_what_still_runs(monkeypatch):
    monkeypatch.setattr(cli_acting, "POLL_SECONDS", 0.05)
    halted = halted_saga()
    # No engine runs: the saga stays started until the timeout.
    out = saga("redrive", "--rate", "5/s", "--timeout", "0.3s", *REASON).splitlines()
    batch = Intervention.objects.get(saga=halted).batch
    assert out[-2] == "1 started"
    assert out[-1].startswith(f"Re-drive {batch} after ")
    assert out[-1].endswith(
        f": 1 still running, which go on without this command: manage.py saga list --batch {batch}."
    )


# -- with an engine: sagas repaired from the shell ------------------------------------
@pytest.mark.django_db(transaction=True)
def test_retry_step_with_corrected_input_completes_a_halted_saga(run_engine):
    run_engine()
    halted = wait_terminal(manager.start("order", shop()).id)
    assert halted.state == "halted"
    saga("retry-step", halted.id, "ship", "--input", '{"ok": true}', *REASON)
    assert wait_terminal(halted.id).state == "completed"
    assert list(Ledger.objects.order_by("id").values_list("action", flat=True)) == [
        "do:reserve",
        "do:capture",
        "do:ship",
    ]
    assert "completed" in saga("show", halted.id).splitlines()[1]


@pytest.mark.django_db(transaction=True)
def test_redrive_completes_halted_sagas_once_their_service_is_back(
    run_engine, tmp_path, monkeypatch
):
    monkeypatch.setattr(cli_acting, "POLL_SECONDS", 0.05)
    up = tmp_path / "up"
    run_engine()
    halted = [manager.start("order", shop("test.downstream", {"up": str(up)})) for _ in range(3)]
    assert {wait_terminal(s.id).state for s in halted} == {"halted"}
    done = wait_terminal(manager.start("order", shop(ship_input={"ok": True})).id)
    up.touch()  # the downstream service is back
    out = saga("redrive", "--rate", "20/s", *REASON).splitlines()
    [batch] = set(Intervention.objects.values_list("batch", flat=True))
    assert (
        out[0] == "Re-driving 3 sagas (3 halted) at 20 a second: the last is sent 100 ms from now."
    )
    assert out[1] == f"Re-drive {batch}: 3 scheduled, 0 refused."
    assert out[-2] == "3 completed"
    assert out[-1].startswith(f"Re-drive {batch} after ") and out[-1].endswith(": 3 completed.")
    assert {state_of(s.id) for s in halted} == {"completed"}
    assert state_of(done.id) == "completed"
    assert Ledger.objects.filter(action="call:ship").count() == 3
    assert Intervention.objects.filter(batch=batch).count() == 3
