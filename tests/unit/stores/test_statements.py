"""The Django store's hand-written statements: what they read and write.

Run on SQLite and on PostgreSQL (where the statements are also prepared).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from django_saga import Step, manager
from django_saga.models import OutboxMessage
from django_saga.stores.django import DjangoStore

pytestmark = pytest.mark.django_db(transaction=True)


def test_claims_lease_due_rows_once_and_sent_marks_retire_them():
    for n in range(5):
        manager.start("claim", [Step("a", "test.record", "")], context={"n": n})
    store = DjangoStore()
    first = store.claim_due(3, lease=60)
    second = store.claim_due(10, lease=60)
    assert len(first) == 3 and len(second) == 2
    assert not {m.id for m in first} & {m.id for m in second}
    assert store.claim_due(10, lease=60) == []  # leased: not due again yet
    assert {m.body for m in first + second} == set(
        OutboxMessage.objects.values_list("body", flat=True)
    )
    store.mark_sent([m.id for m in first])
    assert OutboxMessage.objects.filter(sent_at__isnull=False).count() == 3
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 2


@pytest.mark.postgres
def test_a_claim_passes_over_rows_another_transaction_holds_without_waiting():
    """Relays never wait for each other, nor for a writer that holds rows."""
    for n in range(3):
        manager.start("claim", [Step("a", "test.record", "")], context={"n": n})
    first, second, third = OutboxMessage.objects.order_by("available_at", "id")
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(OutboxMessage.objects.select_for_update().filter(pk__in=[first.pk, third.pk]))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(30)
        started = time.monotonic()
        claimed = DjangoStore().claim_due(10, lease=60)
        assert time.monotonic() - started < 5
    finally:
        release.set()
        holder.join(30)
    assert [m.id for m in claimed] == [second.pk]
    assert {m.id for m in DjangoStore().claim_due(10, lease=60)} == {first.pk, third.pk}
