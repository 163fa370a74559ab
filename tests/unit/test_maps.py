"""django_saga.maps: a map stage declared, and where a saga has room for one."""

from __future__ import annotations

import pytest

from django_saga import SagaDefinitionError, Step, UnknownActionError, each, manager, parallel
from django_saga.maps import check
from django_saga.models import MAP_ACTION

pytestmark = pytest.mark.django_db


def test_a_map_is_one_step_of_the_map_action_holding_what_its_items_run():
    step = each(
        "reserve",
        "inventory.reserve",
        "inventory.release",
        over="load.items",
        input={"warehouse": "north"},
        max_concurrency=5,
        tolerate=2,
        timeout=30,
    )
    assert step == Step(
        "reserve",
        MAP_ACTION,
        "",
        {
            "over": "load.items",
            "action": "inventory.reserve",
            "compensation": "inventory.release",
            "input": {"warehouse": "north"},
            "max_concurrency": 5,
            "tolerate": 2,
            "timeout": 30,
        },
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"over": "load..items"}, r"a reference like 'context\.key'"),
        ({"over": "context.items", "max_concurrency": 0}, "max_concurrency must be a whole"),
        ({"over": "context.items", "max_concurrency": 2.5}, "max_concurrency must be a whole"),
        ({"over": "context.items", "tolerate": -1}, "tolerate must be a whole number"),
        ({"over": "context.items", "tolerate": True}, "tolerate must be a whole number"),
        ({"over": "context.items", "input": {"item": 1}}, "may not set 'item' or 'index'"),
        ({"over": "context.items", "timeout": 0}, "positive"),
    ],
    ids=["empty-part", "zero", "fraction", "negative", "bool", "item-key", "timeout"],
)
def test_a_map_that_could_not_run_is_refused_where_it_is_written(kwargs, message):
    with pytest.raises(SagaDefinitionError, match=message):
        each("reserve", "test.item", **kwargs)


def test_a_map_declared_by_hand_is_checked_too():
    check(Step("m", MAP_ACTION, "", {"over": "context.x", "action": "test.item"}))
    with pytest.raises(SagaDefinitionError, match="needs 'over' and 'action'"):
        check(Step("m", MAP_ACTION, "", {"over": "context.x"}))
    with pytest.raises(SagaDefinitionError, match="takes only"):
        check(Step("m", MAP_ACTION, "", {"over": "context.x", "action": "a", "size": 3}))
    with pytest.raises(SagaDefinitionError, match="the map takes none"):
        check(Step("m", MAP_ACTION, "undo", {"over": "context.x", "action": "a"}))
    with pytest.raises(SagaDefinitionError, match="at most 191 characters"):
        check(Step("m" * 192, MAP_ACTION, "", {"over": "context.x", "action": "a"}))


def test_a_map_is_a_stage_of_its_own():
    with pytest.raises(SagaDefinitionError, match="shares its stage with 'b': a map is a stage"):
        manager.start(
            "order",
            [parallel(each("m", "test.item", over="context.x"), Step("b", "test.record"))],
        )


def test_a_map_after_the_pivot_may_not_undo_its_items():
    with pytest.raises(SagaDefinitionError, match="comes after pivot step 'p'"):
        manager.start(
            "order",
            [
                Step("p", "test.record", pivot=True),
                each("m", "test.item", "test.undo", over="context.x"),
            ],
        )
    manager.start(
        "order", [Step("p", "test.record", pivot=True), each("m", "test.item", over="context.x")]
    )


def test_maps_sit_among_the_first_thousand_steps():
    steps = [Step(f"s{i}", "test.record") for i in range(1000)]
    with pytest.raises(SagaDefinitionError, match="is step #1001: maps may be among the first"):
        manager.start("long", [*steps, each("m", "test.item", over="context.x")])


def test_unknown_actions_of_the_items_are_refused_at_start():
    with pytest.raises(UnknownActionError, match="no step handler is registered for action 'nope'"):
        manager.start("order", [each("m", "nope", over="context.x")])
    with pytest.raises(UnknownActionError, match="no compensation handler is registered"):
        manager.start("order", [each("m", "test.item", "nope.undo", over="context.x")])


def test_a_map_over_a_step_alone_reads_the_list_its_handler_fanned_out():
    assert each("pay", "payouts.pay", over="find_sellers").input["over"] == "find_sellers.items"
