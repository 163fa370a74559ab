"""The Django store's hand-written statements: what they read and write.

Run on SQLite and on PostgreSQL (where the statements are also prepared).
"""

from __future__ import annotations

import pytest

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
def test_a_claim_waits_for_no_flush_yet_the_connection_s_other_commits_still_do():
    """The claim's commit skips the WAL flush (a lease lost to a crash only
    publishes a row again); the setting is its transaction's alone, so a row
    written next on the same connection is committed durably as ever."""
    from django.db import connection

    manager.start("claim", [Step("a", "test.record", "")])
    assert len(DjangoStore().claim_due(10, lease=60)) == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
