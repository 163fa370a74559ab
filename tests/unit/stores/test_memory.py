"""``MemoryStore``: what the in-memory store does of its own, with no database
to do it: snapshots, units that change nothing unless they end well, the
saga's lock, delayed messages, the trail that outlives its saga, purges.

The Store protocol on both stores is tested with ``stores/base.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from django_saga import clock
from django_saga.messages import EXECUTE
from django_saga.models import Intervention, Saga, SagaState, SagaStep, StepStatus
from django_saga.stores.base import Busy
from django_saga.stores.memory import MemoryStore
from django_saga.testing.clock import TestClock


@pytest.fixture
def test_clock() -> Iterator[TestClock]:
    """The time the store reads, moved only when the test says."""
    frozen = TestClock()
    previous = clock.set_source(frozen.now)
    yield frozen
    clock.set_source(previous)


def new_saga(store: MemoryStore, name: str = "order", **context: object) -> Saga:
    """A started saga of two steps, the first dispatched, stored in ``store``."""
    saga = Saga(name=name, state=SagaState.STARTED, context=dict(context))
    steps = [
        SagaStep(
            saga=saga,
            position=n,
            stage=n,
            name=f"s{n}",
            action="test.record",
            input={"n": n, "lines": [{"sku": "a"}]},
            status=StepStatus.STARTED if n == 0 else StepStatus.PENDING,
        )
        for n in range(2)
    ]
    with store.create(saga, steps):
        pass
    return saga


@contextmanager
def engine_holding(store: MemoryStore, saga: Saga) -> Iterator[None]:
    """An engine's thread runs the saga's first step for the block."""
    inside, done = threading.Event(), threading.Event()

    def run() -> None:
        with store.open_step(saga.pk, saga.steps[0].pk) as unit:
            assert unit is not None
            inside.set()
            done.wait(30)

    thread = threading.Thread(target=run)
    thread.start()
    assert inside.wait(30)
    try:
        yield
    finally:
        done.set()
        thread.join(30)


# -- snapshots ------------------------------------------------------------------
def test_a_loaded_saga_shares_no_state_with_the_store():
    store = MemoryStore()
    saga = new_saga(store, order={"lines": [1, 2]})
    saga.context["order"]["lines"].append(3)  # the creator's saga, once stored
    loaded = store.load_saga(saga.pk)
    loaded.context["order"]["lines"].clear()
    loaded.steps[0].input["lines"][0]["sku"] = "changed"
    loaded.steps[0].output["added"] = True
    loaded.steps[1].status = StepStatus.COMPLETED
    again = store.load_saga(saga.pk)
    assert again.context == {"order": {"lines": [1, 2]}}
    assert again.steps[0].input == {"n": 0, "lines": [{"sku": "a"}]}
    assert again.steps[0].output == {}
    assert again.steps[1].status == StepStatus.PENDING
    assert all(step.saga is again for step in again.steps)


def test_what_a_unit_leaves_behind_changes_nothing_stored():
    store = MemoryStore()
    saga = new_saga(store)
    with store.open_saga(saga.pk) as unit:
        unit.saga.context["paid"] = {"amount": 10}
        unit.save_saga_fields(["context"])
        held = unit.saga
    held.context["paid"]["amount"] = 99  # after commit: the caller's copy only
    assert store.load_saga(saga.pk).context == {"paid": {"amount": 10}}


# -- units ----------------------------------------------------------------------
def test_a_unit_that_fails_changes_nothing_and_sends_nothing():
    store = MemoryStore()
    saga = new_saga(store)
    committed: list[str] = []
    with pytest.raises(RuntimeError), store.open_saga(saga.pk) as unit:
        step = unit.saga.steps[0]
        step.status = StepStatus.COMPLETED
        step.output = {"ok": 1}
        unit.save_step(step, ["status", "output"])
        unit.saga.state = SagaState.COMPLETED
        unit.save_saga_fields(["state"])
        unit.send(EXECUTE, unit.saga.steps[1], 1)
        unit.record(Intervention(saga_id=saga.pk, action="retry_step", actor="ops"))
        unit.after_commit(lambda: committed.append("ran"))
        raise RuntimeError("the handler failed")
    stored = store.load_saga(saga.pk)
    assert stored.state == SagaState.STARTED
    assert stored.steps[0].status == StepStatus.STARTED and stored.steps[0].output == {}
    assert store.claim_due(10, lease=60) == []
    assert store.interventions(saga.pk) == []
    assert committed == []


def test_a_unit_that_ends_well_writes_its_rows_and_then_runs_its_callbacks():
    store = MemoryStore()
    saga = new_saga(store)
    seen: list[object] = []
    with store.open_saga(saga.pk) as unit:
        unit.saga.steps[0].status = StepStatus.COMPLETED
        unit.save_step(unit.saga.steps[0], ["status"])
        unit.send(EXECUTE, unit.saga.steps[1], 1)
        unit.record(Intervention(saga_id=saga.pk, action="retry_step", actor="ops"))
        unit.after_commit(lambda: seen.append(store.load_saga(saga.pk).steps[0].status))
    assert seen == [StepStatus.COMPLETED]  # after the rows were stored
    [message] = store.claim_due(10, lease=60)
    assert message.saga_id == saga.pk and message.kind == EXECUTE
    assert [i.action for i in store.interventions(saga.pk)] == ["retry_step"]


# -- the saga's lock ------------------------------------------------------------
def test_a_timeout_finds_no_step_while_an_engine_holds_its_saga(test_clock):
    store = MemoryStore()
    saga = new_saga(store)
    with store.open_saga(saga.pk) as unit:
        unit.saga.steps[0].timeout_at = clock.later(5)
        unit.save_step(unit.saga.steps[0], ["timeout_at"])
    with store.open_step(saga.pk, saga.steps[0].pk, timed_out=True) as unit:
        assert unit is None  # not past its timeout yet
    test_clock.advance(timedelta(seconds=6))
    with engine_holding(store, saga):
        started = time.monotonic()
        with store.open_step(saga.pk, saga.steps[0].pk, timed_out=True) as unit:
            assert unit is None  # the step is running right now: no timeout
        assert time.monotonic() - started < 5  # and the sweeper did not wait
    with store.open_step(saga.pk, saga.steps[0].pk, timed_out=True) as unit:
        assert unit is not None and unit.step is not None
        assert unit.step.pk == saga.steps[0].pk


def test_an_operator_who_will_not_wait_finds_the_saga_busy_while_an_engine_holds_it():
    store = MemoryStore()
    saga = new_saga(store)
    with engine_holding(store, saga), pytest.raises(Busy), store.open_saga(saga.pk, nowait=True):
        pass
    with store.open_saga(saga.pk, nowait=True) as unit:
        assert unit.saga.pk == saga.pk


def test_deleting_a_saga_drops_its_messages_and_keeps_the_operators_trail():
    store = MemoryStore()
    saga, other = new_saga(store), new_saga(store, name="refund")
    for each in (saga, other):
        with store.open_saga(each.pk) as unit:
            unit.send(EXECUTE, unit.saga.steps[0], 1)
            unit.record(Intervention(saga_id=each.pk, action="retry_step", actor="ops"))
    store.delete_saga(saga.pk)
    assert [m.saga_id for m in store.claim_due(10, lease=60)] == [other.pk]
    assert [i.saga_id for i in store.interventions(saga.pk)] == [saga.pk]


def test_only_sagas_finished_long_enough_ago_are_purged(test_clock):
    store = MemoryStore()
    running, done, recent = new_saga(store), new_saga(store), new_saga(store)
    for each in (done, recent):
        with store.open_saga(each.pk) as unit:
            unit.saga.state = SagaState.COMPLETED
            unit.saga.completed_at = clock.now()
            unit.save_saga_fields(["state", "completed_at"])
        test_clock.advance(timedelta(hours=2))
    assert store.purge_finished(older_than=5 * 3600, budget=1) == 0
    assert store.purge_finished(older_than=3 * 3600, budget=1) == 1
    assert {s.pk for s in store.list_active_sagas()} == {running.pk}
    store.load_saga(recent.pk)
    with pytest.raises(LookupError):
        store.load_saga(done.pk)
