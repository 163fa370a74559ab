"""The memory store's outbox: rows a relay claims, publishes and retires."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import clock
from ..messages import Outgoing
from .wakeups import OutboxListener, outbox_written


@dataclass
class OutboxRow:
    message: Outgoing
    available_at: datetime
    sent_at: datetime | None = None


class MemoryOutbox:
    """The outbox half of ``MemoryStore``: its rows by id, under its lock."""

    _lock: threading.Lock
    _outbox: dict[str, OutboxRow]

    def claim_due(self, limit: int, lease: float) -> list[Outgoing]:
        now = clock.now()
        with self._lock:
            due = sorted(
                (r for r in self._outbox.values() if r.sent_at is None and r.available_at <= now),
                key=lambda r: r.available_at,
            )[:limit]
            for row in due:
                row.available_at = clock.later(lease, now)
            return [row.message for row in due]

    def relay_later(self, messages: Sequence[Outgoing]) -> None:
        now = clock.now()
        with self._lock:
            for message in messages:
                self._outbox[message.id] = OutboxRow(message, now)
        outbox_written.set()

    def relayed_steps(self, saga_id: str) -> set[str]:
        with self._lock:
            return {
                json.loads(row.message.body)["step_id"]
                for row in self._outbox.values()
                if row.sent_at is None and row.message.saga_id == saga_id
            }

    def mark_sent(self, ids: Sequence[str]) -> None:
        now = clock.now()
        with self._lock:
            for message_id in ids:
                row = self._outbox.get(message_id)
                if row is not None:
                    row.sent_at = now

    def purge_sent(self, older_than: float) -> int:
        cutoff = clock.now() - timedelta(seconds=older_than)
        with self._lock:
            old = [k for k, r in self._outbox.items() if r.sent_at and r.sent_at < cutoff]
            for key in old:
                del self._outbox[key]
        return len(old)

    def outbox_listener(self) -> OutboxListener:
        return OutboxListener()
