"""Slots of limited actions: who may run one now.

A slot is held by the transaction that runs the handler and freed when it
ends, however it ends. On PostgreSQL it is a transaction-level advisory
lock: a dead engine's transaction is rolled back when PostgreSQL sees its
connection go (at once for a killed process; for a host that vanished,
within the connection's TCP keepalive time, the slot's lease), so a slot
never leaks and no row records it. Elsewhere (SQLite, the memory store:
one engine) slots are counted in the process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ..models import HeldMessage
from .tables import ModelTable


class LocalSlots:
    """Slots counted in this process: each slot id is held at most once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[int] = set()

    def take(self, ids: Sequence[int], mine: set[int]) -> bool:
        """Take the first free slot of ``ids`` for a holder that keeps what it
        took in ``mine`` (and gives it back with ``give_back``)."""
        with self._lock:
            for slot in ids:
                if slot not in self._held:
                    self._held.add(slot)
                    mine.add(slot)
                    return True
        return False

    def give_back(self, mine: set[int]) -> None:
        with self._lock:
            self._held -= mine
        mine.clear()

    def in_use(self, ids: Sequence[int]) -> int:
        with self._lock:
            return sum(slot in self._held for slot in ids)


def take_slot(held: ModelTable[HeldMessage]) -> str:
    """Tries each slot's lock in order and stops at the first it gets (a
    LIMIT pulls no further row), none while the queue holds messages that
    came first. Slots the transaction's other units hold are left out: a
    transaction gets again any advisory lock it holds."""
    return (
        "SELECT slot FROM unnest(%s::bigint[]) AS slots(slot) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {held.name} WHERE {held.column('action')} = %s "
        f"AND {held.column('key')} = %s AND {held.column('kind')} = %s "
        f"AND {held.column('paused')} = false) "
        "AND NOT slot = ANY(%s::bigint[]) AND pg_try_advisory_xact_lock(slot) LIMIT 1"
    )


#: ``take_slot`` for the transaction that runs the oldest held message.
TAKE_SLOT_FOR_HELD = (
    "SELECT slot FROM unnest(%s::bigint[]) AS slots(slot) "
    "WHERE NOT slot = ANY(%s::bigint[]) AND pg_try_advisory_xact_lock(slot) LIMIT 1"
)

#: How many of the slots some transaction holds right now.
SLOTS_IN_USE = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = ANY(%s::bigint[])"
)


def postgres_take(cursor: Any, sql: str, params: list[Any], mine: set[int]) -> bool:
    """Run a statement above; whether it took a slot (kept in ``mine``)."""
    cursor.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return False
    mine.add(row[0])
    return True
