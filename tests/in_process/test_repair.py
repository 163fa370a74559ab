"""Pivot steps and operators' repairs, driven by an in-thread engine.

Each test runs once per store (Django models and memory) unless it reads a
Django table (the admin log, the outbox's times).
"""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.utils import timezone

from django_saga import Step, manager, parallel, signals
from django_saga.errors import InvalidStateTransition, SagaDefinitionError, SagaNotFound
from django_saga.models import Intervention
from django_saga.processor import Processor
from django_saga.stores import get_store
from django_saga.sweeper import Sweeper
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def shop(capture_action: str = "test.record", ship_input: dict | None = None) -> list[Step]:
    """Reserve (undoable), capture the payment (the pivot), then ship and notify."""
    return [
        Step("reserve", "test.record", "test.undo"),
        Step("capture", capture_action, pivot=True),
        Step("ship", "test.needs_ok", input=ship_input or {}),
        Step("notify", "test.record"),
    ]


def ledger() -> list[str]:
    return list(Ledger.objects.order_by("id").values_list("action", flat=True))


# -- declarations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            [Step("a", "test.record", pivot=True), Step("b", "test.record", pivot=True)],
            "A saga has at most one pivot step, got 2: 'a', 'b'",
        ),
        (
            [Step("a", "test.record", "test.undo", pivot=True)],
            "Pivot step 'a' declares compensation 'test.undo', which could never run",
        ),
        (
            [Step("a", "test.record", pivot=True), Step("b", "test.record", "test.undo")],
            "Step 'b' comes after pivot step 'a' and declares compensation 'test.undo'",
        ),
        (
            [parallel(Step("a", "test.record", pivot=True), Step("b", "test.record"))],
            "Pivot step 'a' shares its parallel stage with 'b'",
        ),
        (
            [{"name": "a", "action": "test.record", "pivot": "yes"}],
            "Step #1 ('a') pivot must be True or False, got 'yes'",
        ),
    ],
)
def test_start_refuses_a_pivot_declaration_that_makes_no_sense(store, declared, message):
    with pytest.raises(SagaDefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        manager.start("order", declared)
    assert manager.list_active() == []


def test_a_pivot_may_be_declared_as_a_dict_and_is_stored_on_its_step(store):
    saga = manager.start(
        "order",
        [
            {"name": "a", "action": "test.record", "compensation": "test.undo"},
            {"name": "b", "action": "test.record", "pivot": True},
        ],
    )
    assert [s.pivot for s in manager.get(saga.id).steps] == [False, True]


# -- before and after the pivot -----------------------------------------------


def test_a_failing_pivot_compensates_the_steps_before_it(store, run_engine):
    run_engine()
    saga = wait_terminal(manager.start("order", shop(capture_action="test.fail")).id)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "failed", "cancelled", "cancelled"]
    assert ledger() == ["do:reserve", "undo:reserve"]


def test_a_failure_after_the_pivot_is_retried_then_halts_and_compensates_nothing(store, run_engine):
    halted = []
    signals.saga_halted.connect(lambda sender, saga, **kw: halted.append(saga.id), weak=False)
    try:
        run_engine()
        saga = wait_terminal(manager.start("order", shop()).id)
    finally:
        signals.saga_halted.receivers.clear()
    assert saga.state == "halted"
    assert saga.is_halted() and saga.is_failed()
    assert [s.status for s in saga.steps] == ["completed", "completed", "failed", "pending"]
    ship = saga.step("ship")
    assert ship.attempts == 2  # its policy: two attempts
    assert saga.error.startswith(
        "step 'ship' failed after pivot step 'capture' completed: RetryableError: "
    )
    assert ledger() == ["do:reserve", "do:capture"]  # nothing undone
    assert halted == [saga.id]


def test_a_plain_exception_after_the_pivot_is_retried_per_the_policy(store, run_engine):
    """Past the pivot a failure can only call a person: any exception gets the
    handler's attempts first, not just RetryableError."""
    run_engine()
    steps = shop()
    steps[2] = Step("ship", "test.breaks", input={"fail_times": 2})
    saga = wait_terminal(manager.start("order", steps).id)
    assert saga.state == "completed"
    assert saga.step("ship").attempts == 3
    assert [e["outcome"] for e in saga.step("ship").history] == [
        "retrying",
        "retrying",
        "completed",
    ]

    steps[2] = Step("ship", "test.breaks")  # fails every attempt
    saga = wait_terminal(manager.start("order", steps).id)
    assert saga.state == "halted"
    assert saga.step("ship").attempts == 3  # its policy's max_attempts
    assert saga.error.startswith(
        "step 'ship' failed after pivot step 'capture' completed: KeyError"
    )


def test_before_the_pivot_a_plain_exception_still_fails_at_once(store, run_engine):
    run_engine()
    steps = [
        Step("reserve", "test.record", "test.undo"),
        Step("check", "test.breaks", "test.undo"),
        Step("capture", "test.record", pivot=True),
    ]
    saga = wait_terminal(manager.start("order", steps).id)
    assert saga.state == "compensated"
    assert saga.step("check").attempts == 1  # undone at once: the saga may still go back
    assert ledger() == ["do:reserve", "undo:reserve"]


def test_a_halted_saga_cannot_be_compensated_nor_can_a_completed_one_past_its_pivot(
    store, run_engine
):
    run_engine()
    saga = wait_terminal(manager.start("order", shop()).id)
    with pytest.raises(InvalidStateTransition) as info:
        manager.compensate(saga.id)
    assert str(info.value) == (
        f"Saga {saga.id} is past its pivot step 'capture': what it did cannot be undone, "
        "so it cannot be compensated; retry or skip the failed step instead"
    )
    done = wait_terminal(manager.start("order", shop(ship_input={"ok": True})).id)
    assert done.state == "completed"
    with pytest.raises(InvalidStateTransition, match="is past its pivot step 'capture'"):
        manager.compensate(done.id)
    assert manager.get(done.id).state == "completed"


# -- retry_step and skip_step -------------------------------------------------


def test_retry_step_with_corrected_input_completes_a_halted_saga(store, run_engine):
    run_engine()
    saga = wait_terminal(manager.start("order", shop()).id)
    assert saga.state == "halted"
    manager.retry_step(saga.id, "ship", {"ok": True}, by="alice", reason="address fixed")
    saga = wait_terminal(saga.id)
    assert saga.state == "completed", saga.error
    assert saga.error == ""
    ship = saga.step("ship")
    assert ship.input == {"ok": True}
    assert ship.attempts == 3 and ship.output == {"attempt": 3}
    resumed = [e for e in ship.history if e["outcome"] == "resumed"]
    assert resumed == [
        {
            "kind": "execute",
            "attempt": 2,
            "outcome": "resumed",
            "at": resumed[0]["at"],
            "input_changed": True,
            "by": "alice",
            "reason": "address fixed",
        }
    ]
    assert ledger() == ["do:reserve", "do:capture", "do:ship", "do:notify"]
    [entry] = manager.interventions(saga.id)
    assert (entry.action, entry.step, entry.actor, entry.reason) == (
        "retry_step",
        "ship",
        "alice",
        "address fixed",
    )
    assert entry.details["state"] == "halted"
    assert entry.details["input"] == {"ok": True}
    assert entry.details["previous_input"] == {}


def test_a_retried_step_gets_its_whole_retry_budget_again(store, run_engine):
    run_engine()
    saga = wait_terminal(manager.start("order", shop()).id)
    manager.retry_step(saga.id, "ship", reason="one more go")
    saga = wait_terminal(saga.id)
    assert saga.state == "halted"
    # Two attempts again (3 and 4), not one: the budget restarts at the retry.
    assert saga.step("ship").attempts == 4
    outcomes = [e["outcome"] for e in saga.step("ship").history]
    assert outcomes == ["retrying", "failed", "resumed", "retrying", "failed"]


def test_skip_step_records_the_output_and_goes_on(store, run_engine):
    run_engine()
    saga = wait_terminal(manager.start("order", shop()).id)
    manager.skip_step(
        saga.id, "ship", {"tracking": "by hand"}, reason="shipped from the shop floor"
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    ship = saga.step("ship")
    assert ship.status == "completed" and ship.output == {"tracking": "by hand"}
    assert ship.history[-1]["outcome"] == "skipped"
    assert ship.history[-1]["reason"] == "shipped from the shop floor"
    assert ledger() == ["do:reserve", "do:capture", "do:notify"]
    [entry] = manager.interventions(saga.id)
    assert entry.action == "skip_step" and entry.actor == "unattributed"
    assert entry.details["output"] == {"tracking": "by hand"}


def test_skip_step_completes_a_waiting_step(store, run_engine):
    run_engine()
    saga = manager.start("order", [Step("wait", "test.pending"), Step("after", "test.record")])
    wait_for(lambda: manager.get(saga.id).step("wait").status == "waiting", what="waiting")
    manager.skip_step(saga.id, "wait", {"answer": 42}, reason="the provider confirmed by phone")
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    # The operator's output is the step's output, in place of what it waited with.
    assert saga.step("wait").output == {"answer": 42}
    assert saga.step("wait").history[-1]["outcome"] == "skipped"


def test_operator_actions_are_refused_with_a_sentence_that_names_the_saga(store, run_engine):
    run_engine()
    done = wait_terminal(manager.start("order", shop(ship_input={"ok": True})).id)
    with pytest.raises(InvalidStateTransition) as info:
        manager.retry_step(done.id, "ship")
    assert str(info.value) == (
        f"Step 'ship' of saga {done.id} is completed; only a failed step can be retried."
    )
    with pytest.raises(InvalidStateTransition) as info:
        manager.skip_step(done.id, "reserve", {}, reason="why not")
    assert str(info.value) == (
        f"Step 'reserve' of saga {done.id} is completed; "
        "only a failed or waiting step can be skipped."
    )
    with pytest.raises(SagaNotFound, match=f"Saga {done.id} has no step 'nope'"):
        manager.retry_step(done.id, "nope")
    with pytest.raises(SagaNotFound):
        manager.retry_step("0" * 26, "ship")
    with pytest.raises(SagaDefinitionError, match="input of step 'ship' must be a JSON object"):
        manager.retry_step(done.id, "ship", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert manager.interventions(done.id) == []


def test_without_auto_compensate_a_failed_saga_can_be_repaired_step_by_step(
    store, run_engine, settings
):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    run_engine()
    saga = manager.start(
        "order",
        [
            parallel(
                Step("left", "test.needs_ok", "test.undo"),
                Step("right", "test.needs_ok", "test.undo"),
            ),
            Step("last", "test.record"),
        ],
    )
    wait_for(
        lambda: [s.status for s in manager.get(saga.id).steps] == ["failed", "failed", "pending"],
        what="both parallel steps to fail",
    )
    assert manager.get(saga.id).state == "failed"
    manager.retry_step(saga.id, "left", {"ok": True})
    wait_for(lambda: manager.get(saga.id).step("left").status == "completed", what="left")
    # The other step of the stage is still failed: the saga waits on.
    assert manager.get(saga.id).state == "failed"
    assert manager.get(saga.id).step("last").status == "pending"
    manager.retry_step(saga.id, "right", {"ok": True})
    assert wait_terminal(saga.id).state == "completed"
    assert ledger() == ["do:left", "do:right", "do:last"]


def test_a_deadline_past_the_pivot_compensates_nothing(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("reserve", "test.record", "test.undo"),
            Step("capture", "test.record", pivot=True),
            Step("confirm", "test.pending"),
        ],
        deadline=0.2,
    )
    wait_for(lambda: manager.get(saga.id).step("confirm").status == "waiting", what="waiting")
    time.sleep(0.25)
    sweeper = Sweeper(get_store(), Processor(get_store()))
    assert sweeper.sweep().deadlines == 0
    saga = manager.get(saga.id)
    assert saga.state == "started"
    assert saga.deadline_at is None  # it no longer applies: the next sweep skips the saga
    manager.complete_step(saga.id, "confirm", {"ok": True})
    assert wait_terminal(saga.id).state == "completed"
    assert ledger() == ["do:reserve", "do:capture", "do:confirm"]


# -- what the trail records ---------------------------------------------------


def test_an_action_by_a_user_goes_into_djangos_admin_log(run_engine):
    user = User.objects.create_user("olga")
    run_engine()
    saga = wait_terminal(manager.start("order", shop()).id)
    manager.retry_step(saga.id, "ship", {"ok": True}, by=user, reason="service is back")
    [entry] = Intervention.objects.filter(saga_id=saga.id)
    assert entry.actor == "olga"
    log = LogEntry.objects.get(object_id=saga.id)
    assert log.user == user
    assert log.get_change_message() == "Retry step 'ship': service is back"


# -- re-drive -----------------------------------------------------------------


def test_redrive_retries_each_saga_at_the_rate_through_the_outbox(run_engine):
    run_engine()
    halted = [wait_terminal(manager.start("order", shop()).id) for _ in range(4)]
    done = wait_terminal(manager.start("order", shop(ship_input={"ok": True})).id)
    Ledger.objects.all().delete()
    before = timezone.now()
    redrive = manager.redrive(
        [*(s.id for s in halted), done.id], rate=20, by="ops", reason="service back"
    )
    assert redrive.scheduled == [s.id for s in halted]
    assert redrive.refused == [
        (
            done.id,
            f"Saga {done.id} is completed with no failed step; only sagas that are "
            "failed, halted or whose compensation failed can be retried.",
        )
    ]
    assert 3 / 20 <= redrive.seconds < 3 / 20 + 1  # never faster than asked
    # When each saga is sent: its retry's time plus the delay the re-drive
    # gave it (the outbox row's own time moves once a relay leases it).
    sends = []
    for saga in halted:
        [entry] = manager.interventions(saga.id)
        sends.append(entry.at + timedelta(seconds=entry.details.get("delay", 0)))
    assert 0 <= (sends[0] - before).total_seconds() < 1
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sends)]
    assert all(1 / 20 - 0.002 <= gap < 1 / 20 + 0.5 for gap in gaps), gaps
    for saga in halted:
        assert wait_terminal(saga.id).state == "halted"  # the input was not corrected
        entries = manager.interventions(saga.id)
        assert [(e.action, e.batch, e.actor) for e in entries] == [
            ("retry_step", redrive.batch, "ops")
        ]
    assert ledger() == []
