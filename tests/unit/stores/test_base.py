"""The Store protocol (stores/base.py): one contract, run against both stores.

Every test runs on the Django-model store (on the test database) and on the
in-memory store, each built by ``get_store()`` from ``SAGA['STORE']``: what
the client, the operators and the engine count on from any store.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import timedelta

import pytest

from django_saga import (
    InvalidStateTransition,
    SagaDefinitionError,
    SagaNotFound,
    clock,
    flow,
    manager,
)
from django_saga.messages import EXECUTE
from django_saga.models import (
    SLEEP_ACTION,
    Intervention,
    Saga,
    SagaState,
    SagaStep,
    StepStatus,
)
from django_saga.stores import Store, get_store
from django_saga.stores.base import HandOperations, KeyTaken
from django_saga.stores.django import DjangoStore
from django_saga.stores.memory import MemoryStore
from django_saga.testing.clock import TestClock, give_back, take_over
from tests.helpers import steps

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


@pytest.fixture
def test_clock() -> Iterator[TestClock]:
    moved = TestClock()
    saved = take_over(moved)
    try:
        yield moved
    finally:
        give_back(saved)


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


def started(store: Store, name: str = "order", key: str = "", n: int = 2) -> Saga:
    """A saga created through ``store.create``, its first step dispatched."""
    saga = make_saga(name, n=n)
    saga.key = key
    return create(store, saga)


def create(store: Store, saga: Saga) -> Saga:
    """Create ``saga`` (one step a stage, as the client lays them out) and start it."""
    for position, step in enumerate(saga.steps):
        step.position = step.stage = position
    with store.create(saga, list(saga.steps)) as unit:
        flow.start(unit)
    return store.load_saga(saga.pk)


def unsent_saga_ids(store: Store) -> list[str]:
    """The sagas of the outbox rows due now (claimed for a moment)."""
    return sorted(m.saga_id for m in store.claim_due(100, lease=0.001))


def test_both_stores_implement_every_method_with_its_parameters(store):
    """A runtime-checkable Protocol's isinstance() only looks for the names:
    the parameters are compared here."""
    for protocol in (Store, HandOperations):
        assert isinstance(store, protocol)
        for name, declared in inspect.getmembers(protocol, inspect.isfunction):
            if name.startswith("_"):
                continue
            implemented = getattr(type(store), name)
            wanted = [p.name for p in inspect.signature(declared).parameters.values()]
            found = [p.name for p in inspect.signature(implemented).parameters.values()]
            assert found == wanted, f"{type(store).__name__}.{name}{found} != {wanted}"


# -- reading ---------------------------------------------------------------------------
def test_load_unknown_saga_raises_saga_not_found(store):
    with pytest.raises(SagaNotFound, match="No saga with id 'nope'"):
        store.load_saga("nope")
    with pytest.raises(LookupError):
        manager.get("nope")


def test_the_saga_start_returns_is_a_snapshot(store):
    saga = manager.start("order", steps(("a", "test.record", "test.undo")), context={"k": 1})
    saga.state = SagaState.COMPLETED
    saga.context["k"] = 2
    saga.step("a").status = StepStatus.COMPLETED
    loaded = store.load_saga(saga.id)
    assert loaded.state == "started"
    assert loaded.context == {"k": 1}
    assert loaded.step("a").status == "started"


def test_list_active_sagas_returns_started_and_compensating_oldest_first(store):
    ids = {}
    for state in ("started", "completed", "compensating", "failed", "compensated"):
        saga = make_saga(name=state, state=state, n=2)
        store.save_saga(saga)
        ids[state] = saga.id
    active = store.list_active_sagas()
    assert [s.id for s in active] == [ids["started"], ids["compensating"]]
    assert [s.name for s in active[0].steps] == ["s0", "s1"]
    assert [s.id for s in manager.list_active()] == [ids["started"], ids["compensating"]]


def test_list_active_sagas_is_empty_without_sagas(store):
    assert store.list_active_sagas() == []


# -- creating, and business keys ------------------------------------------------------
def test_create_writes_the_saga_its_steps_and_its_first_messages_together(store):
    saga = started(store, n=2)
    assert [s.status for s in saga.steps] == ["started", "pending"]
    assert unsent_saga_ids(store) == [saga.pk]


def test_create_refuses_a_second_unfinished_saga_with_the_same_key(store):
    first = started(store, key="order-7")
    with pytest.raises(KeyTaken) as taken:
        started(store, key="order-7")
    assert taken.value.saga_id == first.pk
    # The refused one left nothing behind: one saga, one message.
    assert [s.pk for s in store.list_active_sagas()] == [first.pk]
    assert unsent_saga_ids(store) == [first.pk]
    # Another name, or no key, is another saga.
    started(store, name="refund", key="order-7")
    started(store)


def test_a_finished_sagas_key_may_be_used_again_and_find_prefers_the_unfinished(store):
    first = started(store, key="order-8")
    assert store.find_by_key("order", "order-8").pk == first.pk
    store.update_saga_state(first.pk, SagaState.COMPLETED)
    assert store.find_by_key("order", "order-8").pk == first.pk  # the latest, finished
    second = started(store, key="order-8")
    assert store.find_by_key("order", "order-8").pk == second.pk
    assert store.find_by_key("order", "no-such-key") is None


def test_a_step_is_found_by_name_or_id_within_its_saga_only(store):
    saga, other = started(store), started(store)
    second = saga.steps[1]
    assert store.step_id(saga.pk, "s1") == second.pk
    assert store.step_id(saga.pk, second.pk) == second.pk
    assert store.step_id(saga.pk, "nope") is None
    assert store.step_id(saga.pk, other.steps[1].pk) is None
    assert store.step_id("nope", "s1") is None


# -- units of work ---------------------------------------------------------------------
def test_open_step_gives_none_for_an_unknown_step_or_one_of_another_saga(store):
    saga, other = started(store), started(store)
    with store.open_step(saga.pk, "nope") as unit:
        assert unit is None
    with store.open_step(saga.pk, other.steps[0].pk) as unit:
        assert unit is None
    with store.open_step("nope", saga.steps[0].pk) as unit:
        assert unit is None


def test_what_a_unit_saves_commits_together_or_not_at_all(store):
    saga = started(store)
    store.mark_sent([m.id for m in store.claim_due(100, lease=60)])
    first = saga.steps[0].pk
    with pytest.raises(RuntimeError), store.open_step(saga.pk, first, fast_path=False) as unit:
        assert unit is not None and unit.step is not None
        flow.step_succeeded(unit, unit.step, {"paid": True}, 5)
        raise RuntimeError("the handler's transaction broke")
    rolled_back = store.load_saga(saga.pk)
    assert [s.status for s in rolled_back.steps] == ["started", "pending"]
    assert unsent_saga_ids(store) == []
    with store.open_step(saga.pk, first, fast_path=False) as unit:
        assert unit is not None and unit.step is not None
        flow.step_succeeded(unit, unit.step, {"paid": True}, 5)
    committed = store.load_saga(saga.pk)
    assert [s.status for s in committed.steps] == ["completed", "started"]
    assert committed.steps[0].output == {"paid": True}
    assert unsent_saga_ids(store) == [saga.pk]  # the next step's message, as a row


def test_an_engines_unit_leaves_its_immediate_messages_to_the_engine(store):
    saga = started(store)
    store.claim_due(100, lease=60)
    with store.open_step(saga.pk, saga.steps[0].pk) as unit:
        assert unit is not None and unit.step is not None and unit.fast_path
        flow.step_succeeded(unit, unit.step, {}, 1)
    assert [m.kind for m in unit.outgoing] == [EXECUTE]
    assert store.claim_due(100, lease=60) == []  # published by the engine, not a relay


def test_open_steps_gives_a_unit_per_message_in_order_or_declines(store):
    one, two = started(store), started(store)
    keys = [(one.pk, one.steps[0].pk), (two.pk, "nope"), (two.pk, two.steps[0].pk)]
    together = store.open_steps(keys)
    if together is None:
        return  # this store records each message in a transaction of its own
    with together as units:
        assert [u.saga.pk if u else None for u in units] == [one.pk, None, two.pk]
        for unit in (units[0], units[2]):
            assert unit is not None and unit.step is not None
            flow.step_succeeded(unit, unit.step, {}, 1)
    assert store.load_saga(one.pk).steps[0].status == "completed"
    assert store.load_saga(two.pk).steps[0].status == "completed"


def test_open_saga_holds_every_step_and_refuses_an_unknown_saga(store):
    saga = started(store)
    with store.open_saga(saga.pk) as unit:
        assert [s.pk for s in unit.lock_saga()] == [s.pk for s in saga.steps]
        unit.saga.error = "looked at by hand"
        unit.save_saga_fields(["error"])
    assert store.load_saga(saga.pk).error == "looked at by hand"
    with pytest.raises(SagaNotFound), store.open_saga("nope"):
        pass


def test_an_operators_action_is_kept_with_the_units_changes_oldest_first(store):
    saga = started(store)
    for reason in ("first", "second"):
        with store.open_saga(saga.pk) as unit:
            unit.record(Intervention(saga_id=saga.pk, action="compensate", reason=reason))
    with pytest.raises(RuntimeError), store.open_saga(saga.pk) as unit:
        unit.record(Intervention(saga_id=saga.pk, action="compensate", reason="rolled back"))
        raise RuntimeError
    assert [i.reason for i in store.interventions(saga.pk)] == ["first", "second"]
    assert store.interventions(started(store).pk) == []


# -- what the sweeper looks for ------------------------------------------------------
def test_due_timeouts_and_deadlines_are_those_past_by_now(store, test_clock):
    saga = make_saga(n=2)
    saga.deadline_at = clock.now() + timedelta(minutes=5)
    saga.steps[0].timeout = 30
    create(store, saga)
    assert store.due_timeouts(10) == [] and store.due_deadlines(10) == []
    test_clock.advance(timedelta(seconds=31))
    assert store.due_timeouts(10) == [(saga.pk, saga.steps[0].pk)]
    assert store.due_deadlines(10) == []
    test_clock.advance(timedelta(minutes=5))
    assert store.due_deadlines(10) == [saga.pk]
    assert store.due_deadlines(0) == []


def test_stale_sagas_are_active_ones_that_have_not_moved(store, test_clock):
    saga = started(store)
    store.save_saga(make_saga("done", state=SagaState.COMPLETED))
    assert store.stale_sagas(60, 10) == []
    test_clock.advance(timedelta(minutes=2))
    assert [s.pk for s in store.stale_sagas(60, 10)] == [saga.pk]


def test_a_saga_that_sleeps_is_not_stale_however_long_it_sleeps(store, test_clock):
    sleeping = make_saga(n=1)
    sleeping.steps[0].action = SLEEP_ACTION
    sleeping.steps[0].compensation = ""
    sleeping.steps[0].input = {"seconds": 86400}
    create(store, sleeping)
    with store.open_step(sleeping.pk, sleeping.steps[0].pk) as unit:
        assert unit is not None and unit.step is not None
        flow.sleep_message(unit, unit.step)
    stuck = started(store)
    test_clock.advance(timedelta(hours=2))
    assert [s.pk for s in store.stale_sagas(3600, 10)] == [stuck.pk]
    test_clock.advance(timedelta(days=1))  # past its time, and not woken: stuck
    assert {s.pk for s in store.stale_sagas(3600, 10)} == {stuck.pk, sleeping.pk}


# -- the outbox --------------------------------------------------------------------------
def test_claims_lease_rows_once_and_sent_rows_are_not_claimed_again(store):
    for _ in range(3):
        started(store)
    first = store.claim_due(2, lease=60)
    second = store.claim_due(10, lease=60)
    assert len(first) == 2 and len(second) == 1
    assert not {m.id for m in first} & {m.id for m in second}
    assert store.claim_due(10, lease=60) == []  # leased
    store.mark_sent([m.id for m in first + second])
    store.mark_sent([])
    assert store.claim_due(10, lease=0.001) == []


def test_a_lease_that_runs_out_makes_the_row_due_again(store, test_clock):
    saga = started(store)
    (claimed,) = store.claim_due(10, lease=30)
    test_clock.advance(timedelta(seconds=31))
    assert [m.id for m in store.claim_due(10, lease=30)] == [claimed.id]
    assert claimed.saga_id == saga.pk


def test_what_the_broker_refused_goes_back_to_the_outbox_due_now(store):
    saga = started(store)
    store.mark_sent([m.id for m in store.claim_due(10, lease=60)])
    with store.open_step(saga.pk, saga.steps[0].pk) as unit:
        assert unit is not None and unit.step is not None
        flow.step_succeeded(unit, unit.step, {}, 1)
    (refused,) = unit.outgoing  # the engine's to publish: no row
    assert store.claim_due(10, lease=60) == []
    store.relay_later([refused])
    (again,) = store.claim_due(10, lease=60)
    assert (again.id, again.saga_id, again.kind, again.body) == (
        refused.id,
        saga.pk,
        refused.kind,
        refused.body,
    )


def test_sent_rows_are_purged_once_old_enough(store, test_clock):
    started(store)
    store.mark_sent([m.id for m in store.claim_due(10, lease=60)])
    started(store)  # not sent: never purged
    assert store.purge_sent(60) == 0
    test_clock.advance(timedelta(minutes=2))
    assert store.purge_sent(60) == 1
    assert len(store.claim_due(10, lease=60)) == 1


def test_a_relays_listener_waits_at_most_its_timeout(store):
    listener = store.outbox_listener()
    try:
        listener.wait(0.01)
    finally:
        listener.close()


# -- hand operations ------------------------------------------------------------------
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
