"""Parallel stages, Pending and Skip outcomes, outside results, saga definitions.

Driven end to end by an in-thread engine over the in-process transport, once
per store. The PostgreSQL races between engine processes are in
tests/integration/test_parallel_engines.py.
"""

from __future__ import annotations

import pytest

from django_saga import (
    SagaDefinition,
    SagaDefinitionError,
    SagaNotFound,
    Step,
    StepNotWaiting,
    manager,
    parallel,
    signals,
)
from django_saga.definition import normalise_steps
from django_saga.models import OutboxMessage
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def effects(prefix: str) -> list[str]:
    return [
        r.action.split(":", 1)[1]
        for r in Ledger.objects.filter(action__startswith=prefix).order_by("id")
    ]


def step(name: str, action: str = "test.record", compensation: str = "test.undo", **input):
    return Step(name, action, compensation, {"step": name, **input})


def wait_status(saga_id: str, name: str, status: str) -> None:
    wait_for(
        lambda: manager.get(saga_id).step(name).status == status,
        10,
        f"step {name} to be {status}",
    )


# -- parallel stages ---------------------------------------------------------
def test_a_parallel_stage_runs_between_sequential_steps(store, run_engine):
    run_engine(concurrency=3)
    saga = manager.start(
        "order",
        [step("a"), parallel(step("b"), step("c"), step("d")), step("e")],
    )
    assert [s.stage for s in saga.steps] == [0, 1, 1, 1, 2]
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    assert [s.status for s in saga.steps] == ["completed"] * 5
    assert all(s.attempts == 1 for s in saga.steps)
    done = effects("do:")
    assert done[0] == "a" and sorted(done[1:4]) == ["b", "c", "d"] and done[4] == "e"
    last_of_stage = max(saga.step(n).executed_at for n in "bcd")
    assert saga.step("e").started_at >= last_of_stage
    assert [[s.name for s in stage] for stage in saga.stages] == [["a"], ["b", "c", "d"], ["e"]]


def test_a_parallel_first_stage_is_dispatched_by_start(store, run_engine):
    saga = manager.start("order", [parallel(step("a"), step("b")), step("c")])
    assert [s.status for s in manager.get(saga.id).steps] == ["started", "started", "pending"]
    if store == "django":
        assert OutboxMessage.objects.count() == 2
    run_engine()
    assert wait_terminal(saga.id).state == "completed"


def test_failure_in_a_stage_compensates_siblings_then_earlier_stages(store, run_engine):
    run_engine(concurrency=1)
    saga = manager.start(
        "order",
        [
            step("a"),
            parallel(step("b"), step("c", "test.fail"), step("d")),
            step("e"),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.step("c").status == "failed"
    assert saga.step("e").status == "cancelled"
    assert "step 'c' failed" in saga.error
    undone = effects("undo:")
    # One engine thread takes b, c, d in order: c's failure stops the stage,
    # so d never runs and b alone is undone before the earlier stage.
    assert saga.step("d").status == "cancelled"
    assert undone == ["b", "a"]
    assert "d" not in effects("do:")


def test_completed_siblings_of_a_failed_step_are_undone_before_the_stage_before(store, run_engine):
    run_engine(concurrency=1)
    saga = manager.start(
        "order",
        [
            step("a"),
            parallel(step("b"), step("d"), step("c", "test.fail")),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "compensated", "compensated", "failed"]
    undone = effects("undo:")
    assert sorted(undone[:2]) == ["b", "d"] and undone[2] == "a"
    # Both siblings' compensations were sent together, before a's.
    b, d, a = (saga.step(n) for n in "bda")
    assert max(b.compensated_at, d.compensated_at) <= a.compensated_at


# -- skip --------------------------------------------------------------------
def test_a_skipped_step_is_not_compensated(store, run_engine):
    run_engine()
    skipped = []
    signals.step_skipped.connect(lambda **kw: skipped.append(kw["step"].name), weak=False)
    try:
        saga = manager.start(
            "order",
            [
                step("a"),
                step("gift_wrap", "test.skip_unless", flag="gift"),
                step("c", "test.fail"),
            ],
            context={"gift": False},
        )
        saga = wait_terminal(saga.id)
    finally:
        signals.step_skipped.receivers.clear()
    assert saga.state == "compensated"
    wrap = saga.step("gift_wrap")
    assert wrap.status == "skipped"
    assert wrap.history[-1]["outcome"] == "skipped"
    assert wrap.history[-1]["reason"] == "gift is off"
    assert effects("undo:") == ["a"]
    assert skipped == ["gift_wrap"]


def test_a_conditional_step_runs_when_its_condition_holds(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [step("a"), step("gift_wrap", "test.skip_unless", flag="gift")],
        context={"gift": True},
    )
    saga = wait_terminal(saga.id)
    assert saga.step("gift_wrap").status == "completed"
    assert saga.step("gift_wrap").output == {"ran": True}


def test_a_saga_whose_steps_are_all_skipped_completes(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [step("x", "test.skip_unless", flag="never"), step("y", "test.skip_unless", flag="no")],
    )
    done = wait_terminal(saga.id)
    assert done.state == "completed"
    assert [(s.name, s.status) for s in done.steps] == [("x", "skipped"), ("y", "skipped")]
    assert [s.history[-1]["reason"] for s in done.steps] == ["never is off", "no is off"]
    assert effects("do:") == []  # neither handler did its work


# -- pending steps and outside results ---------------------------------------
def test_a_pending_step_waits_and_completes_from_outside(store, run_engine):
    run_engine()
    saga = manager.start("order", [step("a"), step("pay", "test.pending"), step("c")])
    wait_status(saga.id, "pay", "waiting")
    waiting = manager.get(saga.id)
    assert waiting.state == "started"
    assert waiting.step("pay").output == {"ref": "ext-pay"}
    assert waiting.step("c").status == "pending"

    result = manager.complete_step(saga.id, "pay", {"charged": "30.00"})
    assert result.step("pay").status == "completed"
    assert result.step("pay").output == {"ref": "ext-pay", "charged": "30.00"}
    assert result.step("pay").history[-1]["kind"] == "outside"
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    assert effects("do:") == ["a", "pay", "c"]

    # The same report again changes nothing; a contrary one is refused.
    pay_id = saga.step("pay").id
    assert manager.record_outside_result(saga.id, pay_id, "completed", {"x": 1}) is False
    assert manager.get(saga.id).step("pay").output == {"ref": "ext-pay", "charged": "30.00"}
    with pytest.raises(StepNotWaiting, match=r"'pay' .* is completed, not waiting"):
        manager.fail_step(saga.id, pay_id, "too late")


def pay_step(action: str = "test.pending", name: str = "pay", **input) -> Step:
    """A step that starts outside work and waits; its compensation names what it undoes."""
    return Step(name, action, "test.undo_ref", {"step": name, **input})


def test_a_pending_step_failed_from_outside_compensates(store, run_engine):
    run_engine()
    saga = manager.start("order", [step("a"), pay_step(), step("c")])
    wait_status(saga.id, "pay", "waiting")
    manager.fail_step(saga.id, "pay", "card declined")
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    # Its handler committed and started outside work: undone too, first,
    # with the output it saved, then what came before it.
    assert saga.step("pay").status == "compensated"
    assert saga.step("pay").error == "card declined"
    assert effects("undo:") == ["pay:ext-pay", "a"]
    assert saga.step("c").status == "cancelled"


def test_a_pending_step_times_out_and_the_saga_is_compensated(store, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "SWEEP_INTERVAL": 0.1}
    run_engine()
    saga = manager.start("order", [step("a"), pay_step("test.pending_once", wait=0.3)])
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    pay = saga.step("pay")
    assert pay.status == "compensated"
    assert "no outside result for attempt 1 in time" in pay.error
    assert effects("undo:") == ["pay:ext-pay", "a"]
    with pytest.raises(StepNotWaiting):
        manager.complete_step(saga.id, "pay", {})


def test_a_wait_declared_to_complete_on_timeout_does_so_with_an_engine(store, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "SWEEP_INTERVAL": 0.1}
    run_engine()
    saga = manager.start(
        "order",
        [
            step("a"),
            pay_step(
                "test.pending_then",
                wait=0.3,
                on_timeout="complete",
                timeout_output={"paid": "on account"},
            ),
            step("c"),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    assert saga.step("pay").output == {"ref": "ext-pay", "paid": "on account"}
    assert effects("undo:") == []


def test_a_step_that_failed_without_waiting_is_not_compensated(store, run_engine):
    """Its writes rolled back with its attempt: there is nothing of it to undo."""
    run_engine()
    saga = manager.start("order", [step("a"), step("b", "test.record_then_fail")])
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.step("b").status == "failed"
    assert effects("undo:") == ["a"]


def test_outside_results_name_what_is_wrong(store, run_engine):
    run_engine()
    saga = manager.start("order", [step("a"), step("pay", "test.pending")])
    with pytest.raises(SagaNotFound, match="has no step 'nope'"):
        manager.complete_step(saga.id, "nope")
    with pytest.raises(SagaNotFound):
        manager.complete_step("01NOTASAGA000000000000000", "pay")
    wait_status(saga.id, "pay", "waiting")
    with pytest.raises(StepNotWaiting, match=r"'a' .* is completed"):
        manager.complete_step(saga.id, "a")
    with pytest.raises(SagaDefinitionError, match="not JSON-serializable"):
        manager.complete_step(saga.id, "pay", {"when": object()})
    with pytest.raises(SagaDefinitionError, match="status must be"):
        manager.record_outside_result(saga.id, "pay", "done")
    assert manager.get(saga.id).step("pay").status == "waiting"


def test_an_operator_compensating_cancels_a_waiting_step_and_undoes_it(store, run_engine):
    run_engine()
    saga = manager.start("order", [step("a"), pay_step()])
    wait_status(saga.id, "pay", "waiting")
    manager.compensate(saga.id)
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    pay = saga.step("pay")
    assert pay.status == "compensated"
    assert [(e["kind"], e["outcome"]) for e in pay.history] == [
        ("execute", "waiting"),
        ("execute", "cancelled"),
        ("compensate", "compensated"),
    ]
    assert effects("undo:") == ["pay:ext-pay", "a"]
    with pytest.raises(StepNotWaiting):
        manager.complete_step(saga.id, "pay")


def test_a_waiting_step_whose_retries_time_out_is_undone_once(store, run_engine, settings):
    """Every attempt started outside work and timed out: when the last one
    fails the step, its compensation runs, once."""
    settings.SAGA = {**settings.SAGA, "SWEEP_INTERVAL": 0.1, "RETRY_MAX_ATTEMPTS": 2}
    run_engine()
    saga = manager.start("order", [step("a"), pay_step(wait=0.3)])
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    pay = saga.step("pay")
    assert (pay.status, pay.attempts) == ("compensated", 2)
    assert effects("undo:") == ["pay:ext-pay", "a"]


def test_a_waiting_sibling_of_a_failed_step_is_undone_whatever_ends_its_wait(
    store, run_engine, settings
):
    settings.SAGA = {**settings.SAGA, "SWEEP_INTERVAL": 0.1}
    run_engine(concurrency=2)
    saga = manager.start(
        "order",
        [
            step("a"),
            parallel(
                pay_step("test.pending_once", wait=1.0),
                pay_step("test.pending_once", name="ship"),
            ),
        ],
    )
    wait_status(saga.id, "pay", "waiting")
    wait_status(saga.id, "ship", "waiting")
    manager.fail_step(saga.id, "ship", "no courier")
    # The saga now waits for pay's wait to end (here its timeout) before undoing.
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "compensated", "compensated"]
    assert "no outside result" in saga.step("pay").error
    undone = effects("undo:")
    assert sorted(undone[:2]) == ["pay:ext-pay", "ship:ext-ship"] and undone[2:] == ["a"]


def test_a_sibling_waiting_holds_the_stage_until_its_result(store, run_engine):
    run_engine(concurrency=2)
    saga = manager.start(
        "order", [parallel(step("reserve"), step("pay", "test.pending")), step("ship")]
    )
    wait_status(saga.id, "pay", "waiting")
    wait_status(saga.id, "reserve", "completed")
    assert manager.get(saga.id).step("ship").status == "pending"
    manager.complete_step(saga.id, "pay")
    assert wait_terminal(saga.id).state == "completed"


# -- definitions -------------------------------------------------------------
class PaymentSaga(SagaDefinition):
    name = "payment"

    def steps(self):
        return [step("charge", amount=self.params["amount"])]


class ShippingSaga(SagaDefinition):
    def steps(self):
        return [parallel(step("pack"), step("label"))]


class OrderSaga(SagaDefinition):
    name = "order"
    version = 3

    def steps(self):
        declared = [step("validate", order=self.params["order"])]
        if self.params.get("pay"):
            declared.append(PaymentSaga(amount=self.params["amount"]))
        if self.params.get("ship"):
            declared.append(ShippingSaga())
        return declared


def test_a_definition_composes_smaller_ones_and_records_its_version(store, run_engine):
    run_engine()
    saga = OrderSaga(order=7, amount="30.00", pay=True, ship=True).start()
    assert saga.name == "order"
    assert saga.definition == "tests.in_process.test_patterns.OrderSaga"
    assert saga.version == "3"
    assert saga.context == {"order": 7, "amount": "30.00", "pay": True, "ship": True}
    assert [(s.name, s.stage) for s in saga.steps] == [
        ("validate", 0),
        ("charge", 1),
        ("pack", 2),
        ("label", 2),
    ]
    assert saga.step("charge").input == {"step": "charge", "amount": "30.00"}
    assert wait_terminal(saga.id).state == "completed"
    loaded = manager.get(saga.id)
    assert (loaded.definition, loaded.version) == (saga.definition, "3")


def test_a_changed_definition_leaves_sagas_in_flight_alone(store, run_engine, monkeypatch):
    before = OrderSaga(order=1, pay=True, amount="5").start()
    monkeypatch.setattr(OrderSaga, "version", 4)
    monkeypatch.setattr(OrderSaga, "steps", lambda self: [step("validate_v4")])
    after = OrderSaga(order=2).start()
    run_engine()
    before, after = wait_terminal(before.id), wait_terminal(after.id)
    assert (before.version, [s.name for s in before.steps]) == ("3", ["validate", "charge"])
    assert (after.version, [s.name for s in after.steps]) == ("4", ["validate_v4"])
    assert before.state == after.state == "completed"


def test_a_definition_without_a_name_takes_its_class_name():
    assert ShippingSaga.saga_name() == "ShippingSaga"
    assert OrderSaga.saga_name() == "order"


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ([parallel()], "parallel\\(\\) needs at least one step"),
        ([parallel(step("a"), parallel(step("b")))], "stages cannot be nested"),
        ([parallel(step("a"), step("a"))], "Duplicate step name 'a'"),
        ([parallel(step("a"), {"name": "b", "action": "test.record", "oops": 1})], "unknown keys"),
    ],
)
def test_bad_stages_are_refused_with_the_reason(declared, message):
    with pytest.raises(SagaDefinitionError, match=message):
        normalise_steps(declared)


def test_a_definition_that_includes_itself_is_refused():
    class Loop(SagaDefinition):
        def steps(self):
            return [step("a"), Loop()]

    with pytest.raises(SagaDefinitionError, match="Loop includes itself"):
        Loop().start()


def test_start_definition_wants_a_definition():
    with pytest.raises(SagaDefinitionError, match="expected a SagaDefinition instance"):
        manager.start_definition(OrderSaga)  # the class, not an instance
