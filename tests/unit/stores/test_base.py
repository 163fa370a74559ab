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
    SagaNotFound,
    clock,
    flow,
    manager,
)
from django_saga.messages import EXECUTE, StepMessage
from django_saga.models import (
    SLEEP_ACTION,
    Intervention,
    Saga,
    SagaState,
    StepStatus,
)
from django_saga.stores import Store
from django_saga.stores.base import KeyTaken
from django_saga.stores.hand import HandOperations
from django_saga.testing.clock import TestClock, give_back, take_over
from tests.helpers import steps
from tests.unit.stores.helpers import make_saga, store

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["store"]  # the fixture: every test runs on both stores


@pytest.fixture
def test_clock() -> Iterator[TestClock]:
    moved = TestClock()
    saved = take_over(moved)
    try:
        yield moved
    finally:
        give_back(saved)


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


def test_a_paused_saga_or_one_with_a_held_message_is_not_stale(store, test_clock):
    paused, holding, stuck = started(store, "a"), started(store, "b"), started(store, "c")
    with store.open_saga(paused.pk) as unit:
        unit.saga.paused = True
        unit.save_saga_fields(["paused"])
    with store.open_saga(holding.pk) as unit:
        first = unit.saga.steps[0]
        unit.hold_message(StepMessage(EXECUTE, holding.pk, first.pk, 1), "test.record")
    test_clock.advance(timedelta(hours=2))
    assert [s.pk for s in store.stale_sagas(3600, 10)] == [stuck.pk]


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
