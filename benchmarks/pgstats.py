"""PostgreSQL's own statistics over a run: lock waits and pg_stat_database counters.

They show what a run cost the database (transactions, rows, connections,
lock waits), which timings alone do not.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection


@dataclass
class LockWaits:
    """What ``LockWatch`` saw: per sample, how many backends waited for a lock."""

    samples: int = 0
    #: Samples in which at least one backend waited.
    with_wait: int = 0
    waiting_total: int = 0
    waiting_max: int = 0
    #: Waiting backends summed over the samples, by ``wait_event`` (tuple,
    #: transactionid, advisory, ...).
    by_event: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        if not self.samples:
            return "n/a"
        mean = self.waiting_total / self.samples
        return f"{mean:.2f} / {self.waiting_max} ({100 * self.with_wait / self.samples:.0f} %)"


class LockWatch(threading.Thread):
    """Samples ``pg_stat_activity`` every ``interval`` seconds on a connection
    of its own: the backends of this database waiting for a heavyweight lock
    (row, transaction, advisory...). PostgreSQL keeps no lock-wait time, so
    the figure is how many wait at a time, on average and at most."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(name="lock-watch", daemon=True)
        self.interval = interval
        self.waits = LockWaits()
        self._stop_event = threading.Event()
        db = connection.settings_dict
        self._params = {
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "dbname": db["NAME"],
            "autocommit": True,
        }

    def run(self) -> None:
        import psycopg

        with psycopg.connect(**self._params) as conn:
            while not self._stop_event.wait(self.interval):
                rows = conn.execute(
                    "SELECT wait_event, count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                    "GROUP BY wait_event"
                ).fetchall()
                waiting = sum(n for _, n in rows)
                self.waits.samples += 1
                self.waits.with_wait += bool(waiting)
                self.waits.waiting_total += waiting
                self.waits.waiting_max = max(self.waits.waiting_max, waiting)
                for event, n in rows:
                    self.waits.by_event[event] += n

    def stop(self) -> LockWaits:
        self._stop_event.set()
        self.join(5)
        return self.waits


DB_FIELDS = (
    "xact_commit",
    "xact_rollback",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "sessions",
    "deadlocks",
)


def db_counters() -> dict[str, int]:
    """This database's pg_stat_database counters.

    Other backends flush their counters at least every second and when they
    exit, so read this after the workers have exited.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(DB_FIELDS)} FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        row = cursor.fetchone()
    return dict(zip(DB_FIELDS, row, strict=True))


def db_delta(before: dict[str, int], after: dict[str, int], polls: int) -> dict[str, int]:
    """Counter changes, less the benchmark's own polling queries (one transaction each)."""
    delta = {key: after[key] - before[key] for key in DB_FIELDS}
    delta["xact_commit"] -= polls + 2  # the polls and the two counter reads
    return delta
