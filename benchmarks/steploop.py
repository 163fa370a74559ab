"""CPU per ``start()`` and per step with no broker and no engine threads.

Sagas are started in this process, their first messages taken from the
outbox, and each message handed to ``Processor.process`` as an engine would,
the messages it returns fed back until every saga is done, one at a time.
What it prints (this process's CPU, its PostgreSQL backend's CPU, the WAL
written) moves far less between runs than throughput does on a busy
machine: the figures to compare when changing the per-message path.
"""

from __future__ import annotations

import time

import psutil
from django.db import connection

from django_saga import Step, manager
from django_saga.models import OutboxMessage
from django_saga.processor import Processor
from django_saga.stores import get_store

WARM_UP = 50


def run_step_loop(sagas: int, steps: int) -> str:
    """Start ``sagas`` sagas of ``steps`` steps, run them to the end; the figures."""
    store = get_store()
    processor = Processor(store)
    plan = [Step(f"s{p}", "bench.write", "bench.undo", {}) for p in range(steps)]
    _start_and_run(processor, plan, WARM_UP)  # statements prepared, caches filled
    start, step = _start_and_run(processor, plan, sagas)
    started, ran = start.per(sagas), step.per(sagas * steps)
    return "\n".join(
        [
            f"in-process loop, {sagas} sagas x {steps} steps, one thread, no broker "
            "(the handler's own ORM insert included in the steps):",
            f"  start():  Python CPU {started[0]:.3f} ms, PostgreSQL backend CPU "
            f"{started[1]:.3f} ms, wall {started[2]:.3f} ms per call",
            f"  a step:   Python CPU {ran[0]:.3f} ms, PostgreSQL backend CPU "
            f"{ran[1]:.3f} ms, wall {ran[2]:.3f} ms per step; "
            f"WAL {ran[3]:.1f} records, {ran[4] / 1000:.2f} kB per step",
        ]
    )


class _Meter:
    """CPU and WAL used between ``__init__`` and ``stop()``."""

    def __init__(self) -> None:
        self._backend = psutil.Process(_backend_pid())
        self._start = self._read()

    def stop(self) -> _Meter:
        self._end = self._read()
        return self

    def per(self, count: int) -> list[float]:
        """Python CPU, backend CPU and wall in ms, WAL records and bytes, per ``count``."""
        delta = [b - a for a, b in zip(self._start, self._end, strict=True)]
        return [d * 1000 / count for d in delta[:3]] + [d / count for d in delta[3:]]

    def _read(self) -> list[float]:
        backend = self._backend.cpu_times()
        with connection.cursor() as cursor:
            cursor.execute("SELECT wal_records, wal_bytes FROM pg_stat_wal")
            records, size = cursor.fetchone()
        return [
            time.process_time(),
            backend.user + backend.system,
            time.perf_counter(),
            float(records),
            float(size),
        ]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return int(pid)


def _start_and_run(processor: Processor, plan: list[Step], sagas: int) -> tuple[_Meter, _Meter]:
    # Messages of earlier loops that the processor returned: nothing publishes them here.
    OutboxMessage.objects.filter(sent_at__isnull=True).delete()
    start = _Meter()
    for _ in range(sagas):
        manager.start("bench.loop", plan, {"run": "loop"})
    start.stop()
    messages = [m.body.encode() for m in processor.store.claim_due(sagas, 3600)]
    step = _Meter()
    while messages:
        following = []
        for body in messages:
            result = processor.process(body)
            following += [m.body.encode() for m in result.outgoing]
        messages = following
    return start, step.stop()
