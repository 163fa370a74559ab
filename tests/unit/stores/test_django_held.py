"""The Django store's queues: the oldest held message goes first, with a slot;
a release running one is passed over by the next (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from django_saga.limits import Gate
from django_saga.messages import EXECUTE, StepMessage
from django_saga.models import HeldMessage
from django_saga.stores.django import DjangoStore

pytestmark = pytest.mark.django_db(transaction=True)

GATE = Gate(EXECUTE, "payment.charge", "", 2)


def hold(n: int, key: str = "") -> None:
    HeldMessage.objects.create(
        saga_id=f"S{n}", step_id=f"T{n}", kind=EXECUTE, attempt=1, action=GATE.action, key=key
    )


def test_an_empty_queue_gives_nothing_and_a_held_message_leaves_it_on_commit():
    store = DjangoStore()
    with store.open_held(GATE) as held:
        assert held is None
    hold(1)
    hold(2)
    hold(3, key="customer-1")
    assert sorted(store.held_queues(10)) == [
        (EXECUTE, GATE.action, ""),
        (EXECUTE, GATE.action, "customer-1"),
    ]
    with store.open_held(GATE) as held:
        assert held is not None and held.message == StepMessage(EXECUTE, "S1", "T1", 1)
    assert list(HeldMessage.objects.values_list("saga_id", flat=True).order_by("id")) == [
        "S2",
        "S3",
    ]
    with pytest.raises(RuntimeError), store.open_held(GATE):
        raise RuntimeError("the handler raised")
    assert HeldMessage.objects.filter(saga_id="S2").exists()


@pytest.mark.postgres
def test_two_releases_at_once_run_two_messages_not_one_twice():
    store = DjangoStore()
    hold(1)
    hold(2)
    inside, done = threading.Event(), threading.Event()
    seen: list[str] = []

    def first_release() -> None:
        try:
            with store.open_held(GATE) as held:
                assert held is not None
                seen.append(held.message.saga_id)
                inside.set()
                done.wait(30)
        finally:
            connection.close()  # this thread's

    thread = threading.Thread(target=first_release)
    thread.start()
    try:
        assert inside.wait(30)
        with store.open_held(GATE) as held:
            assert held is not None
            seen.append(held.message.saga_id)
    finally:
        done.set()
        thread.join(30)
    assert seen == ["S1", "S2"]
    assert not HeldMessage.objects.exists()
