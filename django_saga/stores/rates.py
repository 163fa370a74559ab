"""Turns of rate-limited actions: when each run may start.

A rate of 50 a second gives turns 20 ms apart. A run takes the next turn
and moves it on by the interval; if the turn is later than now, its message
is sent again, due then. On PostgreSQL the turn is a row (``RateTurn``)
updated by one statement on a connection of its own, in autocommit, so
every engine shares it, the database's clock keeps it, and a turn taken is
taken whatever the step's transaction does (a run that rolls back has had
its turn, as it had its call to the provider). Elsewhere (SQLite, the
memory store: one engine) turns are kept in the process. A test clock,
when one is set (``django_saga.testing``), keeps them in both cases.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from django.db import connections

from .. import clock
from ..models import RateTurn


class LocalTurns:
    """Turns kept in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, datetime] = {}

    def take(self, name: str, interval: float) -> float:
        now = clock.now()
        with self._lock:
            turn = max(self._next.get(name, now), now)
            self._next[name] = turn + timedelta(seconds=interval)
        return (turn - now).total_seconds()


class PostgresTurns:
    """Turns in the ``RateTurn`` table, taken on a connection of their own."""

    def __init__(self, using: str) -> None:
        self.using = using
        self._lock = threading.Lock()
        self._connection: Any = None
        wrapper = connections[using]
        table = wrapper.ops.quote_name(RateTurn._meta.db_table)
        name = wrapper.ops.quote_name(str(RateTurn._meta.get_field("name").column))
        next_at = wrapper.ops.quote_name(str(RateTurn._meta.get_field("next_at").column))
        # The turn is the later of the stored one and now; the row keeps the
        # one after it. Seconds until the turn, by the database's clock (or
        # the test clock's time, given).
        now = "coalesce(%s::timestamptz, clock_timestamp())"
        self._take = (
            f"WITH now AS (SELECT {now} AS at) "
            f"INSERT INTO {table} ({name}, {next_at}) "
            f"SELECT %s, at + make_interval(secs => %s) FROM now "
            f"ON CONFLICT ({name}) DO UPDATE SET {next_at} = "
            f"greatest({table}.{next_at}, (SELECT at FROM now)) + make_interval(secs => %s) "
            f"RETURNING extract(epoch FROM {next_at} - (SELECT at FROM now)) - %s"
        )

    def take(self, name: str, interval: float) -> float:
        now = clock.now() if clock.replaced() else None
        with self._lock:
            for attempt in (1, 2):
                try:
                    params = [now, name, interval, interval, interval]
                    row = self._link().execute(self._take, params)
                    return max(float(row.fetchone()[0]), 0.0)
                except Exception:
                    self.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _link(self) -> Any:
        if self._connection is None or self._connection.closed:
            wrapper = connections[self.using]
            self._connection = wrapper.get_new_connection(wrapper.get_connection_params())
            self._connection.autocommit = True
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
