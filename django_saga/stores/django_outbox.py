"""The Django store's outbox: the rows a relay claims, publishes and retires."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import connections, transaction

from .. import clock
from ..conf import saga_settings
from ..messages import Outgoing
from ..models import OutboxMessage
from .postgres import PostgresListener
from .wakeups import OutboxListener, outbox_written
from .writes import Writes

if TYPE_CHECKING:
    from .statements import Statements


class DjangoOutbox:
    """The outbox half of ``DjangoStore``: one statement a call, on its
    database (``using``), with the store's written-out ``statements()``."""

    using: str

    def statements(self) -> Statements:
        raise NotImplementedError

    def claim_due(self, limit: int, lease: float) -> list[Outgoing]:
        now = clock.now()
        sql = self.statements()
        # One statement: pick due rows (skipping those another relay holds)
        # and lease them. A lease, not a lock: if this relay dies they come
        # due again.
        with self.statements().cursor() as cursor:
            cursor.execute(
                sql.claim_outbox,
                [
                    sql.outbox_time(clock.later(lease, now)),
                    sql.outbox_time(now),
                    limit,
                ],
            )
            rows = cursor.fetchall()
        return [Outgoing(*row) for row in rows]

    def relay_later(self, messages: Sequence[Outgoing]) -> None:
        sql = self.statements()
        now = clock.now()
        rows = [
            OutboxMessage(
                id=m.id,
                saga_id=m.saga_id,
                kind=m.kind,
                body=m.body,
                available_at=now,
                priority=m.priority,
            )
            for m in messages
        ]
        notify = connections[self.using].vendor == "postgresql"
        with transaction.atomic(using=self.using), sql.cursor() as cursor:
            sql.writer.write(cursor, Writes(inserts=[(sql.outbox, rows)], notify=notify))
            transaction.on_commit(outbox_written.set, using=self.using)

    def mark_sent(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self.statements().cursor() as cursor:
            cursor.execute(*self.statements().mark_sent(list(ids), clock.now()))

    def purge_sent(self, older_than: float) -> int:
        cutoff = clock.now() - timedelta(seconds=older_than)
        deleted, _ = OutboxMessage.objects.using(self.using).filter(sent_at__lt=cutoff).delete()
        return deleted

    def outbox_listener(self) -> OutboxListener:
        if connections[self.using].vendor == "postgresql":
            # A pooler in transaction mode would hand the LISTEN and the
            # listener lock to whichever server connection ran them, and pass
            # the notifications to no one: LISTEN_DATABASE goes around it.
            return PostgresListener(saga_settings.LISTEN_DATABASE or self.using)
        return OutboxListener()
