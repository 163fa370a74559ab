"""The sweeper's and the relay's periodic queries, timed at the table's size.

Each is the store's own method, called as the engine calls it (the same
limits), five times: the median wall time in this process, and PostgreSQL's
``EXPLAIN (ANALYZE, BUFFERS)`` of the SQL it ran (with its parameters,
captured by an execute wrapper), for the execution time and the plan's top
nodes. The ``EXPLAIN ANALYZE``
runs in a transaction that is rolled back (the relay's claim is an UPDATE,
though with nothing due it changes no row).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from django_saga.conf import saga_settings
from django_saga.stores import get_store
from django_saga.sweeper import BATCH

RUNS = 5


@dataclass
class QueryTime:
    label: str
    #: Median wall time of the store's call, in this process (ms).
    call_ms: float
    #: PostgreSQL's execution time of each statement the call ran (ms).
    execution_ms: list[float]
    plans: list[str]
    rows: int

    def line(self) -> str:
        executed = "+".join(f"{ms:.2f}" for ms in self.execution_ms) or "n/a"
        return (
            f"{self.label}: {self.call_ms:.2f} ms a call (PostgreSQL {executed} ms), "
            f"{self.rows} row(s); plan: {' | '.join(self.plans)}"
        )


def periodic_queries() -> list[QueryTime]:
    """Every query an idle engine runs on a timer that reads sagas, steps or outbox rows."""
    store = get_store()
    stale_after = float(saga_settings.STALE_AFTER)
    calls: list[tuple[str, Callable[[], list]]] = [
        ("sweeper due_timeouts (every SWEEP_INTERVAL)", lambda: store.due_timeouts(BATCH)),
        ("sweeper due_deadlines (every SWEEP_INTERVAL)", lambda: store.due_deadlines(BATCH)),
        (
            f"sweeper stale_sagas, STALE_AFTER={stale_after:g}s (every 60 s)",
            lambda: store.stale_sagas(stale_after, BATCH),
        ),
        (
            "sweeper stale_sagas once every sleeper is older than STALE_AFTER",
            lambda: store.stale_sagas(0.001, BATCH),
        ),
        (
            "relay claim_due (every RELAY_INTERVAL)",
            lambda: store.claim_due(
                int(saga_settings.RELAY_BATCH), float(saga_settings.PUBLISH_GRACE)
            ),
        ),
    ]
    return [_time(label, call) for label, call in calls]


def _time(label: str, call: Callable[[], list]) -> QueryTime:
    durations = []
    rows = 0
    for _ in range(RUNS):
        began = time.perf_counter()
        rows = len(call())
        durations.append((time.perf_counter() - began) * 1000)
    captured: list[tuple[str, Any]] = []

    def capture(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        call()
    executions, plans = [], []
    for sql, params in captured:
        if sql.split(None, 1)[0].upper() not in ("SELECT", "UPDATE", "WITH"):
            continue
        executed, plan = explain(sql, params)
        executions.append(executed)
        plans.append(plan)
    return QueryTime(label, statistics.median(durations), executions, plans, rows)


def explain(sql: str, params: Any) -> tuple[float, str]:
    """PostgreSQL's execution time (ms) of ``sql``, and its plan's first two nodes."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        lines = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    executed = next(
        (float(line.split(":")[1].split()[0]) for line in lines if "Execution Time" in line),
        float("nan"),
    )
    nodes = [line.strip().lstrip("-> ").split("  (")[0] for line in lines if "(cost=" in line]
    return executed, " > ".join(nodes[:3])
