"""On PostgreSQL one relay per database answers NOTIFY; the others poll.

Were every engine's relay to listen, each start() would wake them all and all
but one would run a claim that finds nothing: with E engines, E claims per
wake-up. The listener lock passes on when its holder's connection closes.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection

from django_saga.stores.django import DjangoStore
from django_saga.stores.postgres import NOTIFY_CHANNEL
from django_saga.stores.wakeups import outbox_written
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _notify() -> None:
    """What start() in another process sends on commit."""
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")


def _seconds(wait, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    wait(timeout)
    return time.monotonic() - started


def test_one_relay_listens_and_another_takes_over_when_it_goes():
    store = DjangoStore()
    first, second = store.outbox_listener(), store.outbox_listener()
    try:
        assert (first.listening, second.listening) == (True, False)
        outbox_written.clear()
        _notify()
        # The listening relay wakes at once; the other waits for its poll.
        assert _seconds(first.wait, 5) < 2
        assert _seconds(second.wait, 0.5) >= 0.45
        assert not second.listening
        first.close()
        # A wait once the server has ended the closed session (which releases
        # its lock a moment after the client hangs up) takes the lock over,
        # and with it the notifications.

        def took_over() -> bool:
            second.wait(0.01)
            return second.listening

        wait_for(took_over, 5, "the second listener to take the lock over")
        _notify()
        assert _seconds(second.wait, 5) < 2
    finally:
        first.close()
        second.close()


def test_a_delayed_row_written_elsewhere_wakes_the_listening_relay_when_due():
    """A retry or re-drive written by another process names its due time in the
    notification: the listening relay sleeps until then, not until its next poll."""
    from django_saga import Step, manager
    from django_saga.stores.wakeups import due_times

    store = DjangoStore()
    listener = store.outbox_listener()
    try:
        assert listener.listening
        due_times._times.clear()  # what earlier tests of this process scheduled
        saga = manager.start("order", [Step("a", "test.record")])
        listener.wait(5)  # start()'s own wake-up carries no due time
        assert due_times.seconds_until_next(60) == 60
        with store.open_saga(saga.id) as unit:
            step = unit.lock_saga()[0]
            unit.send("execute", step, 2, delay=3.0)
        listener.wait(5)
        assert 2.5 < due_times.seconds_until_next(60) <= 3.0
    finally:
        listener.close()
