"""A key's queue (``if_active="queue"``): one saga of a name at a time per
key, the next started in the transaction that finishes the one before, in
start order; a queued saga may be cancelled; one stranded by a race is
started by the sweeper."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from django_saga import Step, manager
from django_saga.api import QUEUE, Manager
from django_saga.models import Saga
from django_saga.processor import Processor
from django_saga.stores.memory import MemoryStore
from django_saga.testing import SagaTestKit

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


def waits() -> list[Step]:
    """A saga that waits for an outside result, then records."""
    return [Step("confirm", "test.pending", ""), Step("reserve", "test.record", "test.undo")]


def state(saga) -> str:
    return manager.get(saga.pk).state


def test_sagas_with_one_key_run_one_at_a_time_in_start_order(kit):
    first = kit.start("order", waits(), key="customer-1", if_active=QUEUE)
    second = manager.start("order", waits(), key="customer-1", if_active=QUEUE)
    third = manager.start("order", waits(), key="customer-1", if_active=QUEUE)
    kit.run()
    assert second.created and second.state == "queued"
    assert [state(s) for s in (first, second, third)] == ["started", "queued", "queued"]
    # Another key, or another name, is another queue.
    other = manager.start("order", waits(), key="customer-2", if_active=QUEUE)
    assert state(other) == "started"
    manager.complete_step(first.pk, "confirm", {})
    kit.run()
    assert [state(s) for s in (first, second, third)] == ["completed", "started", "queued"]
    assert manager.get(second.pk).step("confirm").status == "waiting"
    manager.fail_step(second.pk, "confirm", "declined")
    kit.run()
    # A compensated saga frees its key too.
    assert [state(s) for s in (second, third)] == ["compensated", "started"]


def test_a_queued_saga_may_be_cancelled_and_the_queue_goes_on_without_it(kit):
    first = kit.start("order", waits(), key="k", if_active=QUEUE)
    second = manager.start("order", waits(), key="k", if_active=QUEUE)
    third = manager.start("order", waits(), key="k", if_active=QUEUE)
    cancelled = manager.compensate(second.pk, by="ada", reason="customer changed their mind")
    assert cancelled.state == "compensated"
    assert {s.status for s in cancelled.steps} == {"cancelled"}
    manager.complete_step(first.pk, "confirm", {})
    kit.run()
    assert [state(s) for s in (first, second, third)] == ["completed", "compensated", "started"]


def test_the_other_answers_to_a_taken_key_are_unchanged(kit):
    first = kit.start("order", waits(), key="k")
    again = manager.start("order", waits(), key="k")
    assert again.pk == first.pk and again.created is False
    with pytest.raises(Exception, match="if_active must be one of 'return', 'raise', 'queue'"):
        manager.start("order", waits(), key="k", if_active="later")


def test_a_saga_queued_as_its_holder_finished_is_started_by_the_sweeper(kit):
    first = kit.start("order", waits(), key="k", if_active=QUEUE)
    second = manager.start("order", waits(), key="k", if_active=QUEUE)
    # As if the holder had finished before it saw the queue: it never starts the next.
    Saga.objects.filter(pk=first.pk).update(state="completed", has_queue=False)
    kit.run()
    assert state(second) == "started"


def test_the_database_lets_one_saga_hold_a_key_whatever_the_queue_says():
    first = manager.start("order", waits(), key="k", if_active=QUEUE)
    second = manager.start("order", waits(), key="k", if_active=QUEUE)
    with pytest.raises(IntegrityError):
        Saga.objects.filter(pk=second.pk).update(state="started")
    assert first.state == "started"


def test_the_memory_store_queues_too():
    store = MemoryStore()
    memory = Manager(store)
    first = memory.start("order", waits(), key="k", if_active=QUEUE)
    second = memory.start("order", waits(), key="k", if_active=QUEUE)
    assert store.load_saga(second.pk).state == "queued"
    memory.compensate(first.pk, by="ada", reason="undo")
    processor = Processor(store)
    while due := store.claim_due(10, lease=60):
        for message in due:
            processor.process(message.body.encode())
    assert store.load_saga(first.pk).state == "compensated"
    assert store.load_saga(second.pk).state == "started"
