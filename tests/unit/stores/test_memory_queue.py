"""The memory store's key queues: a saga queued behind the holder of its
key, in start order; none behind a holder that has finished."""

from __future__ import annotations

from django_saga import Step
from django_saga.api import QUEUE, Manager
from django_saga.models import Saga, SagaState
from django_saga.stores.memory import MemoryStore


def start(manager: Manager, key: str = "k") -> Saga:
    return manager.start("order", [Step("a", "test.pending", "")], key=key, if_active=QUEUE)


def test_sagas_join_the_queue_of_their_key_in_start_order():
    store = MemoryStore()
    memory = Manager(store)
    holder = start(memory)
    queued = [start(memory), start(memory)]
    assert store.load_saga(holder.pk).has_queue is True
    assert store.queued_for("order", "k") == [s.pk for s in queued]
    assert store.queued_for("order", "other") == []
    # The holder holds the key: nobody is stranded.
    assert store.stranded_queued(10) == []


def test_no_saga_joins_the_queue_of_a_holder_that_has_finished():
    store = MemoryStore()
    holder = start(Manager(store))
    store.update_saga_state(holder.pk, SagaState.COMPLETED)
    saga = Saga(name="order", key="k")
    assert store.enqueue(saga, [], holder.pk) is False
    assert store.queued_for("order", "k") == []


def test_a_queue_whose_holder_finished_unseen_is_stranded_first_saga_first():
    store = MemoryStore()
    memory = Manager(store)
    holder = start(memory)
    first, _ = start(memory), start(memory)
    store.update_saga_state(holder.pk, SagaState.COMPLETED)
    assert store.stranded_queued(10) == [first.pk]
