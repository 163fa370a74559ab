"""Map stages with engines running, once per store: one step per item of a
list the saga learns on the way, at most so many at once, and compensation
across the items when one fails for good."""

from __future__ import annotations

import pytest
from django.db import connection

from django_saga import Step, StepNotWaiting, each, manager
from tests.conftest import wait_for
from tests.helpers import ledger, wait_terminal
from tests.testapp import sagas as handlers

pytestmark = pytest.mark.django_db(transaction=True)


def _status(saga_id: str, name: str) -> str | None:
    """The step's status, or None while it does not exist (an item not made yet)."""
    step = next((s for s in manager.get(saga_id).steps if s.name == name), None)
    return None if step is None else step.status


def _payouts(sellers: int, pause: float, at_once: int, undo: str = ""):
    """A saga that opens, then pays each of ``sellers`` items, ``at_once`` at a time."""
    return manager.start(
        "batch",
        [
            Step("open", "test.record", "test.undo"),
            each("pay", "test.item", undo, over="context.sellers", input={"pause": pause},
                 max_concurrency=at_once),
        ],
        {"sellers": list(range(sellers))},
    )  # fmt: skip


def test_a_map_runs_one_step_per_item_of_an_earlier_steps_output(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("load", "test.list", "", {"lines": ["apple", "pear", "fig"]}),
            each("reserve", "test.item", "test.undo", over="load.lines", input={"pause": 0}),
            Step("charge", "test.record", ""),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    items = [s for s in saga.steps if s.is_item]
    assert [(s.name, s.input["item"], s.input["index"]) for s in items] == [
        ("reserve[0]", "apple", 0),
        ("reserve[1]", "pear", 1),
        ("reserve[2]", "fig", 2),
    ]
    assert all(s.status == "completed" and s.stage == saga.step("reserve").stage for s in items)
    assert saga.step("reserve").output == {"items": 3, "failed": []}
    # The next stage waited for every item.
    charge = saga.step("charge")
    assert all(s.executed_at <= charge.started_at for s in items)


def test_a_map_goes_over_the_list_a_handler_returned_as_a_fan_out(store, run_engine):
    run_engine()
    saga = manager.start(
        "payouts",
        [
            Step("find", "test.fan_out", "", {"lines": ["ann", "bob"]}),
            each("pay", "test.item", "", over="find"),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    assert saga.step("find").output == {"found": 2, "items": ["ann", "bob"]}
    assert [s.input["item"] for s in saga.steps if s.is_item] == ["ann", "bob"]


def test_a_map_over_the_context_keeps_at_most_max_concurrency_items_in_flight(store, run_engine):
    handlers.ITEMS_RUNNING.update(now=0, peak=0)
    run_engine(concurrency=8)
    saga = _payouts(12, pause=0.05, at_once=3)
    saga = wait_terminal(saga.id, timeout=30)
    assert saga.state == "completed"
    assert len([s for s in saga.steps if s.is_item]) == 12
    # Eight handler threads, three items at a time: the limit held, and was
    # used. (The memory store runs one unit of a saga at a time, and SQLite
    # one writing transaction: there, one item at once.)
    serial = store == "memory" or connection.vendor == "sqlite"
    assert handlers.ITEMS_RUNNING["peak"] == (1 if serial else 3)


def test_an_item_failing_for_good_compensates_the_completed_items_then_the_earlier_steps(
    store, run_engine
):
    run_engine(concurrency=1)
    lines = [1, 2, {"fail": True}, 4, 5]
    saga = manager.start(
        "order",
        [
            Step("open", "test.record", "test.undo"),
            each("reserve", "test.item", "test.undo", over="context.lines", max_concurrency=1),
            Step("charge", "test.record", "test.undo"),
        ],
        {"lines": lines},
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    status = {s.name: s.status for s in saga.steps}
    assert status["reserve[0]"] == status["reserve[1]"] == "compensated"
    assert status["reserve[2]"] == "failed"
    # Not started when the third failed: cancelled, never run.
    assert status["reserve[3]"] == status["reserve[4]"] == "cancelled"
    assert status["reserve"] == "failed"
    assert "reserve[2]" in saga.step("reserve").error
    assert status["charge"] == "cancelled"
    assert "step 'reserve[2]' failed" in saga.error
    effects = ledger(saga)
    assert effects[:3] == ["do:open", "do:reserve[0]", "do:reserve[1]"]
    # Each completed item undone once, before the step of the stage before.
    assert sorted(effects[3:5]) == ["undo:reserve[0]", "undo:reserve[1]"]
    assert effects[5:] == ["undo:open"]


def test_a_map_that_tolerates_a_failed_item_completes_and_names_it(store, run_engine):
    run_engine()
    saga = manager.start(
        "payouts",
        [
            each("pay", "test.item", "test.undo", over="context.sellers", tolerate=1),
            Step("report", "test.record", ""),
        ],
        {"sellers": ["a", {"fail": True}, "c"]},
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    output = saga.step("pay").output
    assert output["items"] == 3
    assert [(f["index"], f["step"]) for f in output["failed"]] == [(1, "pay[1]")]
    assert "item 1 refuses" in output["failed"][0]["error"]
    assert saga.step("report").status == "completed"


def test_more_failures_than_tolerated_compensate(store, run_engine):
    run_engine()
    saga = manager.start(
        "payouts",
        [each("pay", "test.item", "test.undo", over="context.sellers", tolerate=1)],
        {"sellers": [{"fail": True}, "b", {"fail": True}]},
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.step("pay[1]").status in ("compensated", "cancelled")


@pytest.mark.parametrize(
    ("context", "error"),
    [
        ({"lines": list(range(4))}, "got 4 items, more than SAGA['MAP_MAX_ITEMS'] (3)"),
        ({"lines": "abc"}, "maps over 'context.lines', which is not a list"),
        ({}, "reads 'context.lines': the saga's context has no 'lines'"),
    ],
)
def test_a_list_that_cannot_be_mapped_fails_the_map_with_an_error_naming_why(
    store, run_engine, settings, context, error
):
    settings.SAGA = {**settings.SAGA, "MAP_MAX_ITEMS": 3}
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("open", "test.record", "test.undo"),
            each("reserve", "test.item", "test.undo", over="context.lines"),
        ],
        context,
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    reserve = saga.step("reserve")
    assert reserve.status == "failed"
    assert error in reserve.error
    assert not [s for s in saga.steps if s.is_item]
    assert saga.step("open").status == "compensated"


def test_an_empty_list_completes_the_map_at_once(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [each("reserve", "test.item", "", over="context.lines"), Step("b", "test.record", "")],
        {"lines": []},
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    assert saga.step("reserve").output == {"items": 0, "failed": []}


def test_an_operator_compensating_while_items_run_cancels_the_rest(store, run_engine):
    run_engine(concurrency=1)
    saga = _payouts(20, pause=0.2, at_once=1, undo="test.undo")
    wait_for(lambda: _status(saga.id, "pay[1]") == "completed", 15, "two items done")
    manager.compensate(saga.id)
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    items = [s for s in saga.steps if s.is_item]
    done = [s for s in items if s.status == "compensated"]
    assert len(done) >= 2
    assert all(s.status in ("compensated", "cancelled") for s in items)
    undone = [e for e in ledger(saga) if e.startswith("undo:pay")]
    assert sorted(undone) == sorted(f"undo:{s.name}" for s in done)
    assert saga.step("open").status == "compensated"


def test_a_map_is_never_completed_by_an_outside_result(store, run_engine):
    run_engine(concurrency=1)
    saga = _payouts(2, pause=0.3, at_once=1)
    wait_for(lambda: _status(saga.id, "pay") == "waiting", 15, "the map to run")
    with pytest.raises(StepNotWaiting, match="is a map stage"):
        manager.complete_step(saga.id, "pay", {})
    assert wait_terminal(saga.id).state == "completed"
