"""The operator actions and ``saga redrive``: attributed, explained, recorded,
refused in the manager's sentence."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission

from django_saga import manager
from django_saga.management.commands import saga as saga_command
from django_saga.management.operator_cli import acting as cli_acting
from django_saga.models import Intervention, OutboxMessage, SagaStep
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.console.helpers import build_saga
from tests.unit.management.operator_cli.helpers import (
    REASON,
    halted_saga,
    refused,
    saga,
    shop,
    state_of,
)


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


# -- redrive ----------------------------------------------------------------------
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
