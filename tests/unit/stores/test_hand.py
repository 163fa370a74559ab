"""Hand operations on both stores: whole-saga changes for a project's scripts,
fixtures and repairs (``HandOperations``), two of them written once
(``HandUpdates``)."""

from __future__ import annotations

import pytest

from django_saga import manager
from django_saga.errors import InvalidStateTransition, SagaDefinitionError, SagaNotFound
from django_saga.models import Saga, SagaState, SagaStep, StepStatus
from django_saga.stores.django import DjangoStore
from tests.helpers import steps
from tests.unit.stores.helpers import make_saga, store

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["store"]  # the fixture: every test runs on both stores


def test_save_then_load_round_trips(store):
    saga = make_saga()
    store.save_saga(saga)
    loaded = store.load_saga(saga.id)
    assert loaded is not saga
    assert (loaded.id, loaded.name, loaded.state, loaded.context) == (
        saga.id,
        "order",
        "started",
        {"tag": "order"},
    )
    assert loaded.created_at is not None
    assert [
        (s.id, s.name, s.position, s.action, s.compensation, s.input, s.status)
        for s in loaded.steps
    ] == [
        (saga.steps[i].id, f"s{i}", i, "test.record", "test.undo", {"i": i}, "pending")
        for i in range(3)
    ]
    assert all(s.saga_id == saga.id for s in loaded.steps)


def test_save_saga_again_updates_it(store):
    saga = make_saga()
    store.save_saga(saga)
    loaded = store.load_saga(saga.id)
    loaded.context = {"tag": "changed"}
    loaded.steps[0].status = StepStatus.COMPLETED
    loaded.steps[0].output = {"ok": 1}
    store.save_saga(loaded)
    again = store.load_saga(saga.id)
    assert again.context == {"tag": "changed"}
    assert again.steps[0].status == "completed"
    assert again.steps[0].output == {"ok": 1}
    assert [s.status for s in again.steps[1:]] == ["pending", "pending"]


def test_loaded_sagas_are_snapshots(store):
    saga = make_saga()
    store.save_saga(saga)
    # Changing the caller's objects without saving them changes nothing stored.
    saga.context["tag"] = "caller"
    saga.steps[0].input["i"] = "caller"
    loaded = store.load_saga(saga.id)
    loaded.state = SagaState.COMPLETED
    loaded.context["tag"] = "reader"
    loaded.steps[1].output["x"] = 1
    again = store.load_saga(saga.id)
    assert again.state == "started"
    assert again.context == {"tag": "order"}
    assert again.steps[0].input == {"i": 0}
    assert again.steps[1].output == {}


def test_delete_saga_removes_it_and_its_messages(store):
    kept = manager.start("order", steps(("a", "test.record", "")))
    gone = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
    store.delete_saga(gone.id)
    with pytest.raises(SagaNotFound):
        store.load_saga(gone.id)
    # Its unsent execute message goes too: nothing will be published for it.
    assert [m.saga_id for m in store.claim_due(10, 30)] == [kept.id]
    assert store.load_saga(kept.id).state == "started"
    if type(store) is DjangoStore:
        assert not SagaStep.objects.filter(saga_id=gone.id).exists()


def test_delete_unknown_saga_raises_saga_not_found(store):
    saga = make_saga()
    store.save_saga(saga)
    store.delete_saga(saga.id)
    with pytest.raises(SagaNotFound, match=repr(saga.id)):
        store.delete_saga(saga.id)
    with pytest.raises(SagaNotFound, match="'nope'"):
        store.delete_saga("nope")


def test_update_saga_step_records_status_output_and_error(store):
    saga = make_saga()
    store.save_saga(saga)
    first = saga.steps[0]
    result = store.update_saga_step(saga.id, first.id, StepStatus.FAILED, {"partial": 1}, "boom")
    assert isinstance(result, Saga)
    assert result.id == saga.id
    assert result.step("s0").status == "failed"
    assert result.step("s0").output == {"partial": 1}
    assert result.step("s0").error == "boom"
    # output=None keeps what is there; the error is replaced.
    result = store.update_saga_step(saga.id, first.id, StepStatus.STARTED)
    assert result.step("s0").output == {"partial": 1}
    assert result.step("s0").error == ""
    assert store.load_saga(saga.id).step("s0").status == "started"


@pytest.mark.parametrize(
    ("output", "error"),
    [
        (None, "boom\x00"),
        ({"bad": "\x00"}, ""),
        ({"deep": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}, ""),
    ],
    ids=["nul-error", "nul-output", "too-deep"],
)
def test_update_saga_step_refuses_what_a_column_cannot_hold_and_changes_nothing(
    store, settings, output, error
):
    settings.SAGA = {**settings.SAGA, "MAX_JSON_DEPTH": 8}
    saga = make_saga(n=1)
    store.save_saga(saga)
    with pytest.raises(SagaDefinitionError):
        store.update_saga_step(saga.id, saga.steps[0].id, StepStatus.FAILED, output, error)
    assert store.load_saga(saga.id).steps[0].status == saga.steps[0].status


def test_update_saga_step_copies_the_output(store):
    saga = make_saga(n=1)
    store.save_saga(saga)
    output = {"items": [1]}
    store.update_saga_step(saga.id, saga.steps[0].id, StepStatus.STARTED, output)
    output["items"].append(2)
    assert store.load_saga(saga.id).steps[0].output == {"items": [1]}


def test_update_saga_step_completes_the_saga_when_every_step_is_completed(store):
    saga = make_saga(n=3)
    store.save_saga(saga)
    for step in saga.steps[:2]:
        result = store.update_saga_step(saga.id, step.id, StepStatus.COMPLETED, {"n": step.name})
        assert result.state == "started"
        assert result.completed_at is None
    result = store.update_saga_step(saga.id, saga.steps[2].id, StepStatus.COMPLETED)
    assert result.state == "completed"
    assert result.completed_at is not None
    loaded = store.load_saga(saga.id)
    assert loaded.state == "completed"
    assert [s.status for s in loaded.steps] == ["completed"] * 3
    assert loaded.step("s0").output == {"n": "s0"}
    assert store.list_active_sagas() == []


def test_update_saga_step_does_not_complete_a_saga_that_is_not_started(store):
    saga = make_saga(state=SagaState.COMPENSATING, n=1)
    store.save_saga(saga)
    result = store.update_saga_step(saga.id, saga.steps[0].id, StepStatus.COMPLETED)
    assert result.state == "compensating"
    assert result.completed_at is None


def test_update_saga_step_refuses_an_unknown_status(store):
    saga = make_saga(n=1)
    store.save_saga(saga)
    with pytest.raises(ValueError, match="Unknown step status 'done'"):
        store.update_saga_step(saga.id, saga.steps[0].id, "done")
    assert store.load_saga(saga.id).steps[0].status == "pending"


def test_update_saga_step_unknown_ids_raise_saga_not_found(store):
    saga = make_saga(n=1)
    store.save_saga(saga)
    with pytest.raises(SagaNotFound):
        store.update_saga_step("nope", saga.steps[0].id, StepStatus.COMPLETED)
    with pytest.raises(SagaNotFound, match="'nostep'"):
        store.update_saga_step(saga.id, "nostep", StepStatus.COMPLETED)
    other = make_saga(name="other", n=1)
    store.save_saga(other)
    # A step of another saga is not a step of this one.
    with pytest.raises(SagaNotFound):
        store.update_saga_step(saga.id, other.steps[0].id, StepStatus.COMPLETED)
    assert store.load_saga(other.id).steps[0].status == "pending"


@pytest.mark.parametrize(
    ("state", "terminal"),
    [
        ("completed", True),
        ("compensated", True),
        ("failed", False),
        ("compensating", False),
        ("compensation_failed", False),
        ("started", False),
    ],
)
def test_update_saga_state_sets_state_and_completed_at(store, state, terminal):
    saga = make_saga(n=1)
    store.save_saga(saga)
    result = store.update_saga_state(saga.id, SagaState.COMPLETED)
    assert result.completed_at is not None
    result = store.update_saga_state(saga.id, state)
    assert result.state == state
    assert (result.completed_at is not None) is terminal
    loaded = store.load_saga(saga.id)
    assert loaded.state == state
    assert (loaded.completed_at is not None) is terminal


def test_update_saga_state_refuses_an_unknown_state(store):
    saga = make_saga(n=1)
    store.save_saga(saga)
    with pytest.raises(InvalidStateTransition) as info:
        store.update_saga_state(saga.id, "finished")
    assert "Unknown saga state 'finished'" in str(info.value)
    assert "compensation_failed" in str(info.value)  # the valid states are listed
    assert store.load_saga(saga.id).state == "started"


def test_update_saga_state_unknown_saga_raises_saga_not_found(store):
    with pytest.raises(SagaNotFound, match="'nope'"):
        store.update_saga_state("nope", SagaState.COMPLETED)
