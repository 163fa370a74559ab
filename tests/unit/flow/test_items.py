"""A map's items (flow/items.py): their rows, which go next, when the map is done."""

from __future__ import annotations

from django_saga.flow.items import item_failed, item_rows, next_items, reopen_map, settle_map
from django_saga.models import CHILD_ACTION, MAP_ACTION, Saga, SagaState, SagaStep, StepStatus
from django_saga.models.step import ITEM_POSITIONS, MAP_ITEMS_MAX
from tests.unit.flow.helpers import unit_for


def mapped(count: int, **declared) -> Saga:
    """A saga whose second step is a map that has made ``count`` items."""
    saga = Saga(name="batch", state=SagaState.STARTED)
    first = SagaStep(saga=saga, position=0, stage=0, name="load", action="do", status="completed")
    data = {"over": "load.items", "action": "pay", "compensation": "refund", "input": {"k": 1}}
    row = SagaStep(
        saga=saga, position=1, stage=1, name="pay", action=MAP_ACTION,
        input={**data, **declared}, status=StepStatus.WAITING, output={"items": count},
    )  # fmt: skip
    saga.set_steps([first, row, *item_rows(saga, row, [f"s{i}" for i in range(count)])])
    return saga


def test_items_are_steps_of_the_maps_stage_after_every_declared_step():
    saga = mapped(3, timeout=9)
    items = saga.steps[2:]
    assert [s.name for s in items] == ["pay[0]", "pay[1]", "pay[2]"]
    assert [s.position for s in items] == [ITEM_POSITIONS + MAP_ITEMS_MAX + i for i in range(3)]
    assert all(s.is_item and s.map_position == 1 and s.stage == 1 for s in items)
    assert [s.item_index for s in items] == [0, 1, 2]
    assert items[2].input == {"k": 1, "item": "s2", "index": 2}
    assert (items[0].action, items[0].compensation, items[0].timeout) == ("pay", "refund", 9.0)
    assert not saga.steps[1].is_item and saga.steps[1].is_map
    later = item_rows(saga, saga.step("pay"), ["x"], start=7)[0]
    assert (later.name, later.item_index, later.input["index"]) == ("pay[7]", 7, 7)


def test_an_item_that_is_a_child_saga_has_no_timeout():
    # It waits as long as its child runs; a deadline on the child bounds that.
    child = {"action": CHILD_ACTION, "compensation": CHILD_ACTION, "input": {"definition": "x"}}
    saga = mapped(1, **child)
    (item,) = saga.steps[2:]
    assert (item.action, item.timeout) == (CHILD_ACTION, None)


def test_a_unit_gives_the_declared_steps_and_reaches_the_items_through_their_map():
    saga = mapped(3)
    unit = unit_for(saga)
    assert [s.name for s in unit.lock_saga()] == ["load", "pay"]
    saga.step("pay[1]").status = StepStatus.STARTED
    assert [s.name for s in unit.items(saga.step("pay"), [StepStatus.PENDING])] == [
        "pay[0]",
        "pay[2]",
    ]
    assert unit.count_items(saga.step("pay"), [StepStatus.PENDING, StepStatus.STARTED]) == 3
    assert unit.count_items(saga.step("pay"), [StepStatus.STARTED]) == 1


def test_next_items_keep_at_most_max_concurrency_in_flight():
    saga = mapped(5, max_concurrency=2)
    unit = unit_for(saga)
    row = saga.step("pay")
    assert [s.name for s in next_items(unit, row)] == ["pay[0]", "pay[1]"]
    saga.step("pay[0]").status = StepStatus.STARTED
    saga.step("pay[1]").status = StepStatus.COMPLETED
    assert [s.name for s in next_items(unit, row)] == ["pay[2]"]
    saga.step("pay[2]").status = StepStatus.WAITING
    assert next_items(unit, row) == []
    unlimited = mapped(4)
    assert len(next_items(unit_for(unlimited), unlimited.step("pay"))) == 4


def test_a_map_is_done_when_every_item_ended_within_its_tolerance():
    saga = mapped(3, tolerate=1)
    unit = unit_for(saga)
    assert next_items(unit, saga.step("pay")) == saga.steps[2:]
    assert saga.step("pay").output == {"items": 3, "dispatched": 3}
    for name, status in (("pay[0]", "completed"), ("pay[1]", "failed"), ("pay[2]", "started")):
        saga.step(name).status = status
    saga.step("pay[1]").error = "declined"
    assert not settle_map(unit, saga.step("pay"))
    assert saga.step("pay").status == "waiting"
    # The items that ended first are passed over for good.
    assert saga.step("pay").output["ended_below"] == 2
    saga.step("pay[2]").status = "skipped"
    assert settle_map(unit, saga.step("pay"))
    assert saga.step("pay").status == "completed"
    assert saga.step("pay").output == {
        "items": 3,
        "failed": [{"index": 1, "step": "pay[1]", "error": "declined"}],
    }


def test_a_failed_item_beyond_the_tolerance_fails_its_map_and_a_retry_reopens_it():
    saga = mapped(3, tolerate=1)
    unit = unit_for(saga)
    saga.step("pay[0]").status = "failed"
    assert item_failed(unit, saga.step("pay[0]"), "no")
    assert saga.step("pay").status == "waiting"
    saga.step("pay[2]").status = "failed"
    assert not item_failed(unit, saga.step("pay[2]"), "declined")
    assert saga.step("pay").status == "failed"
    assert saga.step("pay").error == "item 'pay[2]' failed: declined"
    saga.step("pay").output.update(dispatched=3, ended_below=3)
    saga.step("pay[1]").status = "completed"
    assert not settle_map(unit, saga.step("pay"))
    reopen_map(unit, saga.step("pay[2]"))
    assert (saga.step("pay").status, saga.step("pay").error) == ("waiting", "")
    assert saga.step("pay").output["ended_below"] == 2
