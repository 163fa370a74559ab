"""django_saga.children: a child step declared, checked, and its saga built."""

from __future__ import annotations

import pytest

from django_saga import SagaDefinition, SagaDefinitionError, Step, child, each, manager
from django_saga.children import build, check, key
from django_saga.models import CHILD_ACTION
from tests.testapp.sagas import ShipParcel

pytestmark = pytest.mark.django_db


def test_a_child_step_names_its_definition_params_and_policy():
    step = child("ship", ShipParcel(parcel="p1"))
    assert step == Step(
        "ship",
        CHILD_ACTION,
        CHILD_ACTION,
        {
            "definition": "tests.testapp.sagas.ShipParcel",
            "params": {"parcel": "p1"},
            "parent_close": "compensate",
        },
    )
    # Left alone by its parent's compensation: nothing for the parent to undo.
    assert child("ship", ShipParcel, parent_close="abandon").compensation == ""
    assert child("ship", ShipParcel).input["params"] == {}


def test_a_child_is_a_definition_defined_where_an_engine_can_import_it():
    with pytest.raises(SagaDefinitionError, match="a child saga is a SagaDefinition"):
        child("ship", "tests.testapp.sagas.ShipParcel")  # type: ignore[arg-type]

    class Local(SagaDefinition):
        def steps(self):
            return []

    with pytest.raises(SagaDefinitionError, match="defined inside a function"):
        child("ship", Local)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (child("s", ShipParcel), None),
        (Step("s", CHILD_ACTION, CHILD_ACTION, {}), "needs 'definition'"),
        (Step("s", CHILD_ACTION, CHILD_ACTION, {"definition": "x", "more": 1}), "takes only"),
        (Step("s", CHILD_ACTION, CHILD_ACTION, {"definition": ""}), "must be a dotted path"),
        (Step("s", CHILD_ACTION, CHILD_ACTION, {"definition": "x", "params": [1]}), "params"),
        (
            Step("s", CHILD_ACTION, CHILD_ACTION, {"definition": "x", "parent_close": "kill"}),
            "parent_close must be one of compensate, abandon",
        ),
        (Step("s", CHILD_ACTION, "refund", {"definition": "x"}), "its compensation is"),
        (
            Step("s", CHILD_ACTION, "", {"definition": "x", "parent_close": "compensate"}),
            "its compensation is 'saga.child'",
        ),
        (Step("s", CHILD_ACTION, CHILD_ACTION, {"definition": "x"}, timeout=5), "no timeout"),
    ],
)
def test_check_refuses_a_child_step_that_could_not_start_a_saga(step, message):
    if message is None:
        check(step)
        return
    with pytest.raises(SagaDefinitionError, match=message):
        check(step)


def test_a_map_of_child_sagas_gives_each_item_a_child_step_input():
    step = each("ship", ShipParcel(carrier="dhl"), over="pack.parcels", parent_close="abandon")
    assert step.input["action"] == CHILD_ACTION
    assert step.input["compensation"] == ""
    assert step.input["input"] == {
        "definition": "tests.testapp.sagas.ShipParcel",
        "params": {"carrier": "dhl"},
        "parent_close": "abandon",
    }
    with pytest.raises(SagaDefinitionError, match="give neither compensation nor input"):
        each("ship", ShipParcel, "parcels.cancel", over="pack.parcels")
    with pytest.raises(SagaDefinitionError, match="take no timeout"):
        each("ship", ShipParcel, over="pack.parcels", timeout=3)


def test_an_items_child_is_made_with_its_item_and_index_beside_the_params():
    data = {**child("s", ShipParcel(carrier="dhl")).input, "item": {"id": 7}, "index": 2}
    built = build(data, "Child step 's[2]'")
    assert isinstance(built, ShipParcel)
    assert built.params == {"carrier": "dhl", "item": {"id": 7}, "index": 2}


def test_build_names_a_definition_that_cannot_be_made():
    with pytest.raises(SagaDefinitionError, match=r"'no\.such\.Saga', which cannot be imported"):
        build({"definition": "no.such.Saga"}, "Child step 's'")
    with pytest.raises(SagaDefinitionError, match="which is not a SagaDefinition"):
        build({"definition": "django_saga.children.key"}, "Child step 's'")


def test_the_childs_key_is_its_parent_and_step():
    assert key("01PARENT", "ship[3]") == "01PARENT:ship[3]"


def test_start_refuses_a_child_whose_definition_cannot_be_made():
    steps = [Step("s", CHILD_ACTION, CHILD_ACTION, {"definition": "no.such.Saga"})]
    with pytest.raises(SagaDefinitionError, match="cannot be imported"):
        manager.start("order", steps)
    mapped = each("ship", ShipParcel, over="context.parcels")
    broken = Step(
        mapped.name,
        mapped.action,
        "",
        {**mapped.input, "input": {**mapped.input["input"], "definition": "no.such.Saga"}},
    )
    with pytest.raises(SagaDefinitionError, match=r"Map 'ship' names 'no\.such\.Saga'"):
        manager.start("order", [broken], {"parcels": []})


def test_a_map_of_children_after_the_pivot_must_leave_them_alone():
    pivot = Step("pay", "test.record", "", pivot=True)
    with pytest.raises(SagaDefinitionError, match="declare it with parent_close='abandon'"):
        manager.start("order", [pivot, each("ship", ShipParcel, over="context.parcels")])
    shipped = manager.start(
        "order",
        [pivot, each("ship", ShipParcel, over="context.parcels", parent_close="abandon")],
        {"parcels": []},
    )
    assert shipped.step("ship").input["compensation"] == ""
