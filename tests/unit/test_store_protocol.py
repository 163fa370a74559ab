"""The Store protocol (stores/base.py) on both stores, and manual compensation.

Every test runs once per store: the Django-model store and the in-memory
store, each built by ``get_store()`` from ``SAGA['STORE']``.
"""

from __future__ import annotations

import uuid

import pytest

from django_saga import (
    InvalidStateTransition,
    RetryPolicy,
    SagaDefinitionError,
    SagaNotFound,
    Step,
    manager,
    register_compensation_handler,
)
from django_saga.models import Saga, SagaState, SagaStep, StepStatus
from django_saga.registry import registry
from django_saga.stores import Store, get_store
from django_saga.stores.django import DjangoStore
from django_saga.stores.memory import MemoryStore
from tests.conftest import wait_for
from tests.helpers import steps, wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)

STORES = {
    "django": ("django_saga.stores.django.DjangoStore", DjangoStore),
    "memory": ("django_saga.stores.memory.MemoryStore", MemoryStore),
}


@pytest.fixture(params=sorted(STORES))
def store(request, settings) -> Store:
    path, cls = STORES[request.param]
    settings.SAGA = {**settings.SAGA, "STORE": path}
    built = get_store()
    assert type(built) is cls
    return built


def make_saga(name: str = "order", state: str = SagaState.STARTED, n: int = 3) -> Saga:
    saga = Saga(name=name, state=state, context={"tag": name})
    saga.set_steps(
        [
            SagaStep(
                saga=saga,
                position=99,
                name=f"s{i}",
                action="test.record",
                compensation="test.undo",
                input={"i": i},
            )
            for i in range(n)
        ]
    )
    return saga


def undo_log() -> list[str]:
    return list(
        Ledger.objects.filter(action__startswith="undo:")
        .order_by("id")
        .values_list("action", flat=True)
    )


# -- the protocol -------------------------------------------------------------


def test_both_stores_satisfy_the_protocol(store):
    """Every method of the protocol, with the same parameters (a runtime-checkable
    Protocol's isinstance() only looks for the names)."""
    import inspect

    assert isinstance(store, Store)
    for name, declared in inspect.getmembers(Store, inspect.isfunction):
        if name.startswith("_"):
            continue
        implemented = getattr(type(store), name)
        wanted = [p.name for p in inspect.signature(declared).parameters.values()]
        found = [p.name for p in inspect.signature(implemented).parameters.values()]
        assert found == wanted, f"{type(store).__name__}.{name}{found} != Store.{name}{wanted}"


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


def test_the_saga_start_returns_is_a_snapshot(store):
    saga = manager.start("order", steps(("a", "test.record", "test.undo")), context={"k": 1})
    saga.state = SagaState.COMPLETED
    saga.context["k"] = 2
    saga.step("a").status = StepStatus.COMPLETED
    loaded = store.load_saga(saga.id)
    assert loaded.state == "started"
    assert loaded.context == {"k": 1}
    assert loaded.step("a").status == "started"


def test_load_unknown_saga_raises_saga_not_found(store):
    with pytest.raises(SagaNotFound, match="No saga with id 'nope'"):
        store.load_saga("nope")
    with pytest.raises(LookupError):
        manager.get("nope")


def test_delete_saga_removes_it_and_its_messages(store):
    kept = manager.start("order", steps(("a", "test.record", "")))
    gone = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
    assert store.unsent_count() == 2
    store.delete_saga(gone.id)
    with pytest.raises(SagaNotFound):
        store.load_saga(gone.id)
    # Its unsent execute message goes too: nothing will be published for it.
    assert store.unsent_count() == 1
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


def test_list_active_sagas_returns_started_and_compensating_oldest_first(store):
    ids = {}
    for state in (
        "started",
        "completed",
        "compensating",
        "failed",
        "compensation_failed",
        "compensated",
    ):
        saga = make_saga(name=state, state=state, n=2)
        store.save_saga(saga)
        ids[state] = saga.id
    active = store.list_active_sagas()
    assert [s.id for s in active] == [ids["started"], ids["compensating"]]
    assert [s.name for s in active[0].steps] == ["s0", "s1"]
    assert [s.id for s in manager.list_active()] == [ids["started"], ids["compensating"]]


def test_list_active_sagas_is_empty_without_sagas(store):
    assert store.list_active_sagas() == []


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


# -- manual compensation ------------------------------------------------------------


def test_unknown_saga_ids_raise_saga_not_found(store):
    with pytest.raises(SagaNotFound, match="No saga with id 'nope'"):
        manager.get("nope")
    with pytest.raises(SagaNotFound):
        manager.compensate("nope")
    with pytest.raises(SagaNotFound):
        manager.retry_compensation("nope")


def test_compensating_a_completed_saga_undoes_every_step_last_first(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.record", "test.undo"),
            ("c", "test.record", "test.undo"),
        ),
    )
    assert wait_terminal(saga.id).state == "completed"
    assert undo_log() == []
    manager.compensate(saga.id)
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.is_compensated()
    assert [s.status for s in saga.steps] == ["compensated"] * 3
    assert all(s.compensated_at is not None for s in saga.steps)
    assert [s.compensation_attempts for s in saga.steps] == [1, 1, 1]
    assert undo_log() == ["undo:c", "undo:b", "undo:a"]
    assert saga.error == "compensation requested while completed"


def test_compensate_twice_while_compensating_is_a_no_op(store, run_engine):
    engine = run_engine()
    saga = manager.start(
        "order",
        steps(("a", "test.record", "test.undo"), ("b", "test.record", "test.undo")),
    )
    assert wait_terminal(saga.id).state == "completed"
    engine.stop()
    assert engine.finished.wait(15), "engine did not stop"
    unsent = store.unsent_count()

    first = manager.compensate(saga.id)
    assert first.state == "compensating"
    assert first.step("b").status == "compensating"
    assert first.step("a").status == "completed"
    assert store.unsent_count() == unsent + 1

    second = manager.compensate(saga.id)
    assert second.state == "compensating"
    assert second.step("b").compensation_attempts == 1
    assert second.error == first.error
    assert store.unsent_count() == unsent + 1  # no second compensate message

    run_engine()
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert undo_log() == ["undo:b", "undo:a"]
    assert [s.compensation_attempts for s in saga.steps] == [1, 1]


def test_compensating_a_compensated_saga_is_refused(store, run_engine):
    run_engine()
    saga = manager.start("order", steps(("a", "test.record", "test.undo"), ("b", "test.fail", "")))
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    with pytest.raises(InvalidStateTransition) as info:
        manager.compensate(saga.id)
    assert str(info.value) == f"Saga {saga.id} is already compensated"
    assert manager.get(saga.id).state == "compensated"
    assert undo_log() == ["undo:a"]


def test_compensating_a_started_saga_cancels_what_has_not_run(store, run_engine):
    saga = manager.start(
        "order", steps(("a", "test.record", "test.undo"), ("b", "test.record", "test.undo"))
    )
    result = manager.compensate(saga.id)
    # Nothing had completed, so nothing needs undoing: it is compensated at once.
    assert result.state == "compensated"
    assert [s.status for s in result.steps] == ["cancelled", "cancelled"]
    assert result.completed_at is not None
    assert result.error == "compensation requested while started"
    # The execute message start() wrote is now stale: an engine must not run step a.
    engine = run_engine()
    wait_for(
        lambda: store.unsent_count() == 0 and engine.processed >= 1,
        10,
        "the stale execute message to be consumed",
    )
    assert not Ledger.objects.exists()
    assert manager.get(saga.id).state == "compensated"


def test_compensating_a_failed_saga_without_auto_compensation(store, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    run_engine()
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.record", "test.undo"),
            ("c", "test.fail", "test.undo"),
        ),
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "failed"
    assert undo_log() == []
    manager.compensate(saga.id)
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "compensated", "failed"]
    assert undo_log() == ["undo:b", "undo:a"]
    assert saga.error == "step 'c' failed: ValueError: c refuses"


def test_retry_compensation_resumes_a_compensation_failed_saga(store, run_engine):
    action = f"tmp.flaky_undo.{uuid.uuid4().hex}"
    calls: list[str] = []

    def flaky_undo(saga, step):
        calls.append(step.name)
        if len(calls) == 1:
            raise RuntimeError("refund service down")
        Ledger.objects.create(step_id=step.id, action="undo:" + step.name)

    # One attempt only, so the first failure stops the saga for an operator.
    register_compensation_handler(action, flaky_undo, retry=RetryPolicy(max_attempts=1))
    try:
        run_engine()
        saga = manager.start(
            "order",
            [
                Step("a", "test.record", "test.undo"),
                Step("b", "test.record", action),
                Step("c", "test.fail", ""),
            ],
        )
        saga = wait_terminal(saga.id)
        assert saga.state == "compensation_failed"
        assert saga.step("b").status == "compensation_failed"
        assert saga.step("a").status == "completed"
        assert undo_log() == []

        manager.retry_compensation(saga.id)
        saga = wait_terminal(saga.id)
        assert saga.state == "compensated"
        assert [s.status for s in saga.steps] == ["compensated", "compensated", "failed"]
        assert saga.step("b").compensation_attempts == 2
        assert saga.step("a").compensation_attempts == 1
        assert calls == ["b", "b"]
        assert undo_log() == ["undo:b", "undo:a"]
    finally:
        registry.unregister("compensate", action)


def test_compensate_on_compensation_failed_retries_and_can_fail_again(store, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "COMPENSATION_MAX_ATTEMPTS": 2}
    run_engine()
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.record", "test.undo_fail"),
            ("c", "test.fail", ""),
        ),
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensation_failed"
    assert saga.step("b").compensation_attempts == 2  # both attempts spent

    manager.compensate(saga.id)  # documented: retries the failed compensations
    saga = wait_for(
        lambda: (
            (s := manager.get(saga.id)).step("b").compensation_attempts == 4
            and not s.is_active()
            and s
        ),
        20,
        "the second compensation attempt",
    )
    assert saga.state == "compensation_failed"
    assert saga.step("b").status == "compensation_failed"
    assert saga.step("b").error == "RuntimeError: refund service down"
    assert saga.step("a").status == "completed"  # never undone out of order
    assert saga.step("a").compensation_attempts == 0


def test_retry_compensation_refuses_other_states(store, run_engine):
    run_engine()
    saga = manager.start("order", steps(("a", "test.record", "test.undo")))
    assert wait_terminal(saga.id).state == "completed"
    with pytest.raises(InvalidStateTransition) as info:
        manager.retry_compensation(saga.id)
    assert str(info.value) == (
        f"Saga {saga.id} is completed; only a saga whose compensation failed can have it retried."
    )
    assert manager.get(saga.id).state == "completed"
