"""flow.children: a child step starts its saga once, follows its end, and
has it compensated, on the in-memory store (no engine, no broker)."""

from __future__ import annotations

import pytest

from django_saga import child, flow
from django_saga.models import SagaState, StepStatus
from django_saga.starts import check_start
from django_saga.stores.memory import MemoryStore
from tests.testapp.sagas import Broken, ShipParcel

pytestmark = pytest.mark.django_db


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def _parent(store: MemoryStore, parcel: object = "p1") -> str:
    """A started saga whose first step is a child step, dispatched."""
    checked = check_start("order", [child("ship", ShipParcel(parcel=parcel))], {}, None, "")
    saga, rows = checked.rows()
    with store.create(saga, rows) as unit:
        flow.start(unit)
    return saga.pk


def _step_id(store: MemoryStore, saga_id: str) -> str:
    return store.load_saga(saga_id).step("ship").pk


def _run(store: MemoryStore, saga_id: str, action) -> str:
    with store.open_step(saga_id, _step_id(store, saga_id)) as unit:
        assert unit is not None and unit.step is not None
        return action(unit, unit.step)


def test_a_start_that_did_not_commit_finds_its_child_again(store):
    saga_id = _parent(store)
    # The child's rows commit with their own unit here; the parent's unit
    # then fails, and the start is delivered again.
    with pytest.raises(RuntimeError), store.open_step(saga_id, _step_id(store, saga_id)) as unit:
        flow.child_message(unit, unit.step)
        raise RuntimeError("engine stopped")
    assert store.load_saga(saga_id).step("ship").status == StepStatus.STARTED
    assert _run(store, saga_id, flow.child_message) == "started child"
    (first,) = store.children_of(saga_id)
    assert store.load_saga(saga_id).step("ship").output == {"child": first.pk}


def test_a_child_halted_leaves_its_step_waiting_with_the_reason(store):
    saga_id = _parent(store)
    _run(store, saga_id, flow.child_message)
    (shipped,) = store.children_of(saga_id)
    with store.open_saga(shipped.pk) as unit:
        unit.saga.state = SagaState.HALTED
        unit.saga.error = "label printer on fire"
        unit.save_saga_fields(["state", "error"])
    assert _run(store, saga_id, flow.settle_child) == SagaState.HALTED
    step = store.load_saga(saga_id).step("ship")
    assert step.status == StepStatus.WAITING
    assert step.error == (
        f"child saga {shipped.pk} is halted, waiting for an operator: label printer on fire"
    )
    assert step.history[-1]["kind"] == "child"


def test_a_settle_for_a_child_still_running_changes_nothing(store):
    saga_id = _parent(store)
    _run(store, saga_id, flow.child_message)
    before = store.load_saga(saga_id).step("ship")
    assert _run(store, saga_id, flow.settle_child) == SagaState.STARTED
    after = store.load_saga(saga_id).step("ship")
    assert (after.status, after.history) == (before.status, before.history)


def test_compensating_a_child_already_compensated_settles_its_step_at_once(store):
    saga_id = _parent(store)
    _run(store, saga_id, flow.child_message)
    (shipped,) = store.children_of(saga_id)
    with store.open_saga(shipped.pk) as unit:
        flow.request_compensation(unit)  # nothing ran yet: compensated at once
    with store.open_step(saga_id, _step_id(store, saga_id)) as unit:
        unit.step.status = StepStatus.COMPENSATING
        unit.step.compensation_attempts = 1
        unit.save_step(unit.step, ["status", "compensation_attempts"])
    assert _run(store, saga_id, flow.compensate_child) == "compensated"
    assert store.load_saga(saga_id).step("ship").status == StepStatus.COMPENSATED


def test_a_child_past_its_pivot_fails_its_steps_compensation(store):
    saga_id = _parent(store)
    _run(store, saga_id, flow.child_message)
    (shipped,) = store.children_of(saga_id)
    with store.open_saga(shipped.pk) as unit:
        for step in unit.saga.steps:
            step.pivot = step.name == "book"
            step.status = StepStatus.COMPLETED
            unit.save_step(step, ["pivot", "status"])
        unit.saga.state = SagaState.COMPLETED
        unit.save_saga_fields(["state"])
    with store.open_step(saga_id, _step_id(store, saga_id)) as unit:
        unit.step.status = StepStatus.COMPENSATING
        unit.save_step(unit.step, ["status"])
    assert _run(store, saga_id, flow.compensate_child) == "failed"
    parent = store.load_saga(saga_id)
    assert parent.step("ship").status == StepStatus.COMPENSATION_FAILED
    assert parent.state == SagaState.COMPENSATION_FAILED
    assert "is past its pivot step 'book'" in parent.step("ship").error


def test_a_definition_that_raises_fails_the_step_naming_why(store):
    checked = check_start("order", [child("ship", Broken)], {}, None, "")
    saga, rows = checked.rows()
    with store.create(saga, rows) as unit:
        flow.start(unit)
    assert _run(store, saga.pk, flow.child_message) == "failed"
    parent = store.load_saga(saga.pk)
    assert parent.step("ship").status == StepStatus.FAILED
    assert parent.step("ship").error == "KeyError: 'warehouse'"
    assert parent.state == SagaState.COMPENSATED
    assert not store.children_of(saga.pk)


def test_a_compensate_message_delivered_twice_asks_the_child_once(store):
    saga_id = _parent(store, {"label": "wait"})
    _run(store, saga_id, flow.child_message)
    (shipped,) = store.children_of(saga_id)
    book = store.load_saga(shipped.pk).step("book")
    with store.open_step(shipped.pk, book.pk) as unit:
        flow.step_succeeded(unit, unit.step, {}, 1)  # something for it to undo
    with store.open_step(saga_id, _step_id(store, saga_id)) as unit:
        unit.step.status = StepStatus.COMPENSATING
        unit.step.compensation_attempts = 1
        unit.save_step(unit.step, ["status", "compensation_attempts"])
    # The child undoes its booking: the second copy finds it on its way.
    assert _run(store, saga_id, flow.compensate_child) == "compensating child"
    assert _run(store, saga_id, flow.compensate_child) == "compensating child"
    history = store.load_saga(saga_id).step("ship").history
    assert [e["outcome"] for e in history if e["kind"] == "compensate"] == ["compensating child"]
    assert store.load_saga(shipped.pk).state == SagaState.COMPENSATING
