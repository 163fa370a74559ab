"""The Django store's outbox: rows leased, retired and re-queued in the table."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection

from django_saga import Step, clock, manager
from django_saga.models import OutboxMessage
from django_saga.stores.django import DjangoStore
from django_saga.stores.postgres import PostgresListener
from django_saga.stores.wakeups import OutboxListener, outbox_written
from tests.unit.stores.helpers import row_held

pytestmark = pytest.mark.django_db(transaction=True)


def start(n: int) -> None:
    for number in range(n):
        manager.start("outbox", [Step("a", "test.record", "")], context={"n": number})


def test_a_claim_leases_its_rows_in_the_table_until_the_lease_runs_out():
    start(2)
    before = clock.now()
    claimed = DjangoStore().claim_due(1, lease=60)
    (row,) = OutboxMessage.objects.filter(pk__in=[m.id for m in claimed])
    assert timedelta(seconds=59) < row.available_at - before <= timedelta(seconds=61)
    assert row.sent_at is None
    other = OutboxMessage.objects.exclude(pk=row.pk).get()
    assert other.available_at <= clock.now()  # not claimed: still due


def test_sent_rows_keep_their_time_of_sending():
    start(1)
    store = DjangoStore()
    (claimed,) = store.claim_due(10, lease=60)
    store.mark_sent([claimed.id])
    assert OutboxMessage.objects.get(pk=claimed.id).sent_at is not None


@pytest.mark.postgres
def test_a_row_another_relay_holds_is_skipped_not_waited_for():
    start(2)
    held = OutboxMessage.objects.order_by("available_at").first()
    assert held is not None
    with row_held(OutboxMessage, held.pk):
        claimed = DjangoStore().claim_due(10, lease=60)
    assert held.pk not in {m.id for m in claimed} and len(claimed) == 1


def test_what_the_broker_refused_wakes_this_processs_relay_on_commit():
    start(1)
    store = DjangoStore()
    (claimed,) = store.claim_due(10, lease=60)
    store.mark_sent([claimed.id])
    outbox_written.clear()
    refused = replace(claimed, id="01REFUSED0000000000000000A")
    store.relay_later([refused])
    assert outbox_written.is_set()
    assert OutboxMessage.objects.get(pk=refused.id).sent_at is None


def test_a_relay_listens_where_the_database_can_tell_it(settings):
    listener = DjangoStore().outbox_listener()
    try:
        if connection.vendor == "postgresql":
            assert isinstance(listener, PostgresListener)
        else:
            assert type(listener) is OutboxListener  # this process's writes only
    finally:
        listener.close()
