"""What a transaction of the Django store writes, and how it is written.

The units of one transaction collect their rows in one ``Writes`` (a unit
alone, or the units of a batch of messages); the ``Writer`` runs them as the
transaction's last statement(s) before commit. On PostgreSQL every insert
and update is one statement (data-modifying ``WITH`` clauses, the relays'
wake-up last), unless there are many; elsewhere, and for many, one
``INSERT`` per table (of at most ``INSERT_BATCH`` rows) and one
``executemany`` of ``UPDATE`` per kind of update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from .postgres import NOTIFY_CHANNEL
from .tables import INSERT_BATCH, ModelTable

#: Distinct shapes of combined write statements kept per database.
COMBINED_CACHE = 256
#: The most row updates written as clauses of the one combined statement. A
#: transaction that updates more (a map dispatching its items, a wide stage)
#: runs one ``executemany`` per kind of update instead: a statement of
#: hundreds of clauses, prepared and kept by every connection that ran it,
#: would cost the engine and PostgreSQL memory for what happens rarely.
COMBINED_UPDATES = 64

#: Wakes the relays listening in other processes (PostgreSQL delivers it on
#: commit): the channel, and when the first delayed row comes due, or empty.
NOTIFY = "SELECT pg_notify(%s, %s)"


@dataclass
class Writes:
    """What a transaction writes at its end, in order: inserts, then updates."""

    inserts: list[tuple[ModelTable[Any], list[Any]]] = field(default_factory=list)
    updates: list[tuple[ModelTable[Any], Any, list[str]]] = field(default_factory=list)
    notify: bool = False
    #: The notification's payload: when the unit's first delayed row comes due
    #: (seconds since the epoch), or empty.
    due: str = ""

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates or self.notify)

    def insert(self, table: ModelTable[Any], objs: list[Any]) -> None:
        """Insert ``objs`` too: with the table's other rows, in one clause."""
        for entry, rows in self.inserts:
            if entry is table:
                rows.extend(objs)
                return
        self.inserts.append((table, list(objs)))


class Writer:
    """Runs ``Writes`` on one database (one per store, built with its statements)."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        # PostgreSQL runs a transaction's writes as one statement.
        self._one_statement = connection.vendor == "postgresql"
        self._combined: dict[tuple[Any, ...], str] = {}

    def write(self, cursor: Any, writes: Writes) -> None:
        """Run the inserts and updates, and the relays' wake-up."""
        if not writes:
            return
        if (
            self._one_statement
            and all(len(objs) <= INSERT_BATCH for _, objs in writes.inserts)
            and len(writes.updates) <= COMBINED_UPDATES
        ):
            self._write_combined(cursor, writes)
            return
        for table, objs in writes.inserts:
            table.insert_many(cursor, objs)
        alike: dict[tuple[Any, tuple[str, ...]], list[Any]] = {}
        for table, obj, fields in writes.updates:
            alike.setdefault((table, tuple(fields)), []).append(obj)
        for (table, names), objs in alike.items():
            table.update_many(cursor, objs, names)
        if writes.notify:
            cursor.execute(NOTIFY, [NOTIFY_CHANNEL, writes.due])

    def _write_combined(self, cursor: Any, writes: Writes) -> None:
        """Every write in one statement: ``WITH`` clauses that insert and
        update, all run to completion whatever the final ``SELECT`` reads.
        Each row appears once, so no two clauses touch the same row.

        The one statement the store does not write out in full: its clauses
        are the rows' own ``INSERT`` and ``UPDATE`` (``ModelTable``), as many
        as the transaction writes, so it is put together once per shape.
        """
        # Alike updates side by side, so that units writing the same kinds of
        # rows share one statement (and one prepared plan) in whatever order.
        updates = sorted(writes.updates, key=lambda update: (update[0].name, update[2]))
        key = (
            tuple((table.name, len(objs)) for table, objs in writes.inserts),
            tuple((table.name, tuple(fields)) for table, _, fields in updates),
            writes.notify,
        )
        sql = self._combined.get(key)
        if sql is None:
            clauses = [table.insert_sql(len(objs)) for table, objs in writes.inserts]
            clauses += [table.update_sql(fields) for table, _, fields in updates]
            last = NOTIFY if writes.notify else "SELECT 1"
            sql = "WITH " + ", ".join(f"w{n} AS ({c})" for n, c in enumerate(clauses)) + " " + last
            if len(self._combined) >= COMBINED_CACHE:
                self._combined.clear()
            self._combined[key] = sql
        params: list[Any] = []
        for table, objs in writes.inserts:
            params += table.insert_params(objs)
        for table, obj, fields in updates:
            params += table.update_params(obj, fields)
        if writes.notify:
            params += [NOTIFY_CHANNEL, writes.due]
        cursor.execute(sql, params)
        for table, objs in writes.inserts:
            table.mark_saved(objs)
