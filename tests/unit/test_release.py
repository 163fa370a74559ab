"""Held messages of a limited action run when a slot frees, oldest first.

On both stores: the memory store, and the Django store on the test
database (its transactions are real, ``transaction=True``: on PostgreSQL a
slot is an advisory lock that only a transaction's end gives back, and a
test wrapped in one transaction would never see a slot free). A slot is
made busy from outside, as another engine's running handler holds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from django_saga import Step, clock
from django_saga.api import Manager
from django_saga.limits import Gate, Limit
from django_saga.messages import COMPENSATE, EXECUTE, StepMessage
from django_saga.models import HeldMessage, Saga
from django_saga.processor import ACK, Processor
from django_saga.registry import HandlerRegistry
from django_saga.release import release
from django_saga.stores.django import DjangoStore
from django_saga.stores.memory import MemoryStore

pytestmark = pytest.mark.django_db(transaction=True)

ACTION = "test.limited"


@pytest.fixture(params=["memory", "django"])
def store(request):
    return MemoryStore() if request.param == "memory" else DjangoStore()


class Recorder:
    """Handlers of a registry of the test's own, recording whom they ran for."""

    def __init__(self, concurrency: int = 1, per: str | None = None) -> None:
        self.ran: list[str] = []
        self.fail = False
        self.handlers = HandlerRegistry()
        limit = Limit.declared(concurrency, per, ACTION)
        self.handlers.register(EXECUTE, ACTION, self.run, limit=limit)
        self.handlers.register(COMPENSATE, "test.undo", lambda saga, step: None)

    def run(self, saga, step):
        self.ran.append(saga.context["n"])
        if self.fail:
            raise RuntimeError("provider down")
        return {"n": saga.context["n"]}


def start(store, n: int, key: str = "", timeout: float | None = None) -> Saga:
    return Manager(store).start(
        "limited",
        [Step("call", ACTION, "test.undo", timeout=timeout)],
        context={"n": n},
        key=key,
    )


def deliver(processor: Processor, saga: Saga, attempt: int = 1):
    message = StepMessage(EXECUTE, saga.pk, saga.step("call").pk, attempt)
    return processor.process(message.encode().encode())


def held(store) -> list[str]:
    """Saga ids of the held messages, in arrival order."""
    if isinstance(store, MemoryStore):
        return [row.message.saga_id for row in store.queues._held.values()]
    return list(HeldMessage.objects.order_by("id").values_list("saga_id", flat=True))


@contextmanager
def busy(store, gate: Gate) -> Iterator[None]:
    """Every slot of ``gate`` held by someone else (another engine's handlers)."""
    ids = gate.slot_ids()
    if isinstance(store, MemoryStore):
        mine: set[int] = set()
        for _ in ids:
            store.queues.slots.take(ids, mine)
        try:
            yield
        finally:
            store.queues.slots.give_back(mine)
        return
    if connection.vendor != "postgresql":
        taken: set[int] = set()
        for _ in ids:
            store._local_slots.take(ids, taken)
        try:
            yield
        finally:
            store._local_slots.give_back(taken)
        return
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        with other.transaction():
            for slot in ids:
                other.execute("SELECT pg_advisory_xact_lock(%s)", [slot])
            yield
    finally:
        other.close()


def gate(key: str = "", concurrency: int = 1) -> Gate:
    return Gate(EXECUTE, ACTION, key, concurrency)


def test_a_message_over_the_limit_waits_as_a_row_and_runs_when_a_slot_frees(store):
    recorder = Recorder()
    processor = Processor(store, recorder.handlers)
    saga = start(store, 1, timeout=30)
    with busy(store, gate()):
        result = deliver(processor, saga)
        # Acked and held, not run and not failed: the delivery is done with.
        assert result.action == ACK and result.outgoing == []
        assert result.gates == {gate()}
        assert recorder.ran == [] and held(store) == [saga.pk]
        step = store.load_saga(saga.pk).step("call")
        assert step.status == "started" and step.attempts == 1
        # Its attempt's time stops while it waits: no sweep times it out.
        assert step.timeout_at is None
        assert store.due_timeouts(10) == []
        # No slot yet: a release runs nothing and keeps the row.
        assert release(processor, gate()) == 0
        assert held(store) == [saga.pk]
    before = clock.now()
    assert release(processor, gate()) == 1
    done = store.load_saga(saga.pk)
    assert recorder.ran == [1] and held(store) == []
    assert done.state == "completed" and done.step("call").output == {"n": 1}
    # Its time started again when it was released: it ran with a timeout.
    assert any(e.get("outcome") == "completed" for e in done.step("call").history)
    assert done.step("call").executed_at >= before


def test_held_messages_run_in_arrival_order_and_newcomers_queue_behind_them(store):
    recorder = Recorder()
    processor = Processor(store, recorder.handlers)
    sagas = [start(store, n) for n in range(3)]
    with busy(store, gate()):
        for saga in sagas[:2]:
            deliver(processor, saga)
    # The slot is free now, but two came first: the third waits behind them.
    deliver(processor, sagas[2])
    assert recorder.ran == [] and held(store) == [s.pk for s in sagas]
    assert release(processor, gate()) == 3
    assert recorder.ran == [0, 1, 2]
    assert all(store.load_saga(s.pk).state == "completed" for s in sagas)


def test_a_message_delivered_twice_while_it_waits_is_held_once_and_runs_once(store):
    recorder = Recorder()
    processor = Processor(store, recorder.handlers)
    saga = start(store, 7)
    with busy(store, gate()):
        deliver(processor, saga)
        deliver(processor, saga)
    assert held(store) == [saga.pk]
    assert release(processor, gate()) == 1
    assert recorder.ran == [7]
    # The broker's late copy finds the step done.
    assert deliver(processor, saga).action == ACK
    assert recorder.ran == [7]


def test_a_released_handler_that_raises_fails_its_attempt_as_a_delivery_would(store):
    recorder = Recorder()
    recorder.fail = True
    processor = Processor(store, recorder.handlers)
    saga = start(store, 3)
    with busy(store, gate()):
        deliver(processor, saga)
    # It runs and fails; its row comes back with the rollback, stale once
    # the failure is recorded, and leaves the queue unrun at the next turn.
    assert release(processor, gate()) == 2
    failed = store.load_saga(saga.pk)
    assert recorder.ran == [3] and held(store) == []
    assert any(e.get("outcome") in ("retrying", "failed") for e in failed.step("call").history)


def test_a_held_message_of_a_saga_undone_meanwhile_is_dropped_unrun(store):
    recorder = Recorder()
    processor = Processor(store, recorder.handlers)
    saga = start(store, 4)
    with busy(store, gate()):
        deliver(processor, saga)
    Manager(store).compensate(saga.pk, reason="customer cancelled")
    assert release(processor, gate()) == 1
    assert recorder.ran == [] and held(store) == []
    assert store.load_saga(saga.pk).state in ("compensating", "compensated")


def test_a_limit_per_key_lets_other_keys_run(store):
    recorder = Recorder(concurrency=1, per="key")
    processor = Processor(store, recorder.handlers)
    first, second = start(store, 1, key="customer-a"), start(store, 2, key="customer-b")
    with busy(store, gate("customer-a")):
        deliver(processor, first)
        deliver(processor, second)
        assert recorder.ran == [2] and held(store) == [first.pk]
    assert release(processor, gate("customer-a")) == 1
    assert recorder.ran == [2, 1]


def test_the_queues_holding_messages_are_listed_for_the_sweeper(store):
    recorder = Recorder(concurrency=1, per="key")
    processor = Processor(store, recorder.handlers)
    with busy(store, gate("k1")):
        deliver(processor, start(store, 1, key="k1"))
    assert store.held_queues(10) == [(EXECUTE, ACTION, "k1")]
    release(processor, gate("k1"))
    assert store.held_queues(10) == []


def test_a_message_waiting_for_a_slot_of_a_saga_paused_meanwhile_waits_for_the_resume(store):
    recorder = Recorder()
    processor = Processor(store, recorder.handlers)
    saga = start(store, 5)
    with busy(store, gate()):
        deliver(processor, saga)
    Manager(store).pause_saga(saga.pk, by="ada", reason="hold on")
    # Released, it finds its saga paused: held again, by the pause, not lost.
    assert release(processor, gate()) == 1
    assert recorder.ran == [] and held(store) == [saga.pk]
    assert store.held_queues(10) == []
    store.mark_sent([m.id for m in store.claim_due(10, lease=60)])  # its first message
    Manager(store).resume_saga(saga.pk, by="ada", reason="go on")
    [again] = store.claim_due(10, lease=60)
    processor.process(again.body.encode())
    assert recorder.ran == [5] and held(store) == []
    assert store.load_saga(saga.pk).state == "completed"
