"""The Django store's key queues: a saga queued behind the holder of its key
under the holder's lock; none behind one that has finished; the first of a
queue whose holder finished unseen is found stranded."""

from __future__ import annotations

import pytest

from django_saga import Step
from django_saga.api import QUEUE, manager
from django_saga.models import Saga, SagaState
from django_saga.stores.django import DjangoStore

pytestmark = pytest.mark.django_db


def start(key: str = "k") -> Saga:
    return manager.start("order", [Step("a", "test.pending", "")], key=key, if_active=QUEUE)


def test_a_saga_queued_behind_its_key_marks_the_holder_and_waits_unstarted():
    holder = start()
    queued = start()
    assert Saga.objects.get(pk=holder.pk).has_queue is True
    row = Saga.objects.get(pk=queued.pk)
    assert row.state == SagaState.QUEUED
    assert set(row.step_set.values_list("status", flat=True)) == {"pending"}
    assert DjangoStore().stranded_queued(10) == []


def test_no_saga_joins_the_queue_of_a_holder_that_has_finished():
    holder = start()
    Saga.objects.filter(pk=holder.pk).update(state=SagaState.COMPLETED)
    assert DjangoStore().enqueue(Saga(name="order", key="k"), [], holder.pk) is False
    assert not Saga.objects.filter(state=SagaState.QUEUED).exists()


def test_the_first_of_each_queue_whose_holder_finished_unseen_is_stranded():
    holder, other = start("k"), start("j")
    first, _ = start("k"), start("k")
    start("j")
    Saga.objects.filter(pk=holder.pk).update(state=SagaState.COMPLETED)
    assert DjangoStore().stranded_queued(10) == [first.pk]
    assert other.state == "started"
