"""The DBOS Transact baseline: a workflow of k steps per saga, each doing the same one ORM write.

The worker is a subprocess (``dbosapp.py``) that launches DBOS on a system
database of its own, ``<benchmark database>_dbos_sys`` on the same server,
dropped and recreated for each run and dropped after it. Two flavours:

- ``dbos client+queue``, the comparison with django-saga and Celery: the
  worker consumes a DBOS queue, and this process enqueues one workflow per
  saga with ``DBOSClient.enqueue``, paced by the same ``Pacer``;
- ``dbos in-process``, DBOS's best case: the worker starts the workflows
  itself with ``DBOS.start_workflow`` (no queue, no polling), and this process
  only watches. Starting them costs the worker's CPU, not this process's.

DBOS keeps its state in PostgreSQL, not in a broker: the PostgreSQL figures
(CPU, transactions, rows) are those of both databases, and there is no
RabbitMQ figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from django.conf import settings
from django.db import connection, connections

from .chain_rows import collect
from .dbosapp import READY, WORKFLOW
from .pacing import Pacer, wait_done
from .pgstats import DB_FIELDS, db_delta
from .resources import RssWatch, ServerCpu
from .subprocesses import stop_process, wait_for_log
from .workload import RunResult, Workload

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class DbosTuning:
    """The worker's knobs; the defaults are the best found on the 2-core machine (README)."""

    #: Workflows of the queue one worker claims at once (None: no limit, every
    #: enqueued one at each poll; a limit refills only at the next poll).
    worker_concurrency: int | None = None
    #: Across all workers (None: no limit); with one worker it only adds a count query.
    concurrency: int | None = None
    #: Seconds between two polls of the queue (DBOS's default is 1.0).
    polling: float = 0.1
    #: DBOS's executor threads: the workflows that run at once, in both flavours.
    threads: int = 8

    def describe(self) -> str:
        return (
            f"queue worker_concurrency {self.worker_concurrency}, "
            f"concurrency {self.concurrency}, polling {self.polling:g} s, "
            f"{self.threads} executor threads"
        )


def run_dbos(
    work: Workload, in_process: bool = False, tuning: DbosTuning | None = None
) -> RunResult:
    """Run ``work.sagas`` workflows through one DBOS worker and measure them."""
    tuning = tuning or DbosTuning()
    flavour = "in-process" if in_process else "queue"
    label = "dbos in-process" if in_process else "dbos client+queue"
    tag = uuid.uuid4().hex[:10]
    app, queue, run_id = f"saga-bench-{tag}", f"saga-bench-{tag}", uuid.uuid4().hex[:8]
    system_db = f"{str(settings.DATABASES['default']['NAME'])[:54]}_dbos_sys"
    url = _system_url(system_db)
    starts = work.log_dir / f"dbos-{flavour}-starts.json"
    starts.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    env["SAGA_BENCH_DB"] = str(settings.DATABASES["default"]["NAME"])
    env.pop("SAGA_BENCH_STATS_DIR", None)
    env.update(
        SAGA_BENCH_DBOS_URL=url,
        SAGA_BENCH_DBOS_APP=app,
        SAGA_BENCH_DBOS_QUEUE=queue,
        SAGA_BENCH_DBOS_THREADS=str(tuning.threads),
        SAGA_BENCH_DBOS_WORKER_CONCURRENCY=_text(tuning.worker_concurrency),
        SAGA_BENCH_DBOS_CONCURRENCY=_text(tuning.concurrency),
        SAGA_BENCH_DBOS_POLLING=str(tuning.polling),
        SAGA_BENCH_DBOS_SAGAS=str(work.sagas if in_process else 0),
        SAGA_BENCH_DBOS_RUN=run_id,
        SAGA_BENCH_DBOS_STEPS=str(work.steps),
        SAGA_BENCH_DBOS_RATE=str(work.rate or 0),
        SAGA_BENCH_DBOS_STARTERS=str(work.starters),
        SAGA_BENCH_DBOS_STARTS=str(starts),
    )
    _recreate(system_db)
    log = work.log_dir / f"dbos-{flavour}.log"
    command = [sys.executable, "-m", "benchmarks.dbosapp"]
    stdin = subprocess.PIPE if in_process else subprocess.DEVNULL
    client = None
    try:
        with log.open("wb") as out:
            worker = subprocess.Popen(
                command, env=env, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
            )
        try:
            wait_for_log(worker, log, READY, 60)
            watch = RssWatch({"main": psutil.Process(worker.pid)})
            watch.start()
            # Backends flush their counters within a second of going idle: let DBOS's
            # launch (its migrations, the queue) land before the run's counters start.
            time.sleep(1.2)
            before = _counters(system_db)
            pacer: Pacer
            if in_process:
                pacer = _WorkerStarts(work, worker, starts)
            else:
                from dbos import DBOSClient, EnqueueOptions

                client = DBOSClient(
                    system_database_url=url,
                    application_name=app,
                    system_database_pool_size=max(5, work.starters),
                )
                options: EnqueueOptions = {"queue_name": queue, "workflow_name": WORKFLOW}
                enqueue = client.enqueue

                def start(i: int) -> None:
                    enqueue(options, run_id, str(i), work.steps, time.time())

                pacer = Pacer(work.sagas, work.rate, start, work.starters)
            servers = _ServerCpu(system_db)
            pacer.start()
            polls = wait_done(lambda: _done(run_id, work.steps - 1), work, watch, pacer)
            pacer.join()
            pg_cpu, _ = servers.seconds()
            cpu = watch.cpu_seconds()
            peaks = watch.peaks()
            watch.stop()
        finally:
            if worker.stdin is not None and not worker.stdin.closed:
                worker.stdin.close()  # the in-process worker starts nothing then
            if client is not None:
                client.destroy()
            code = stop_process(worker)
        after = _counters(system_db)
    finally:
        _drop(system_db)
    result = collect("dbos", run_id, work, label, pacer, watch, peaks, cpu)
    result.pg_cpu_seconds = pg_cpu
    result.db = db_delta(before, after, polls)
    result.statements_how = "not counted"  # the worker's, DBOS's own, are not instrumented
    if code:
        result.notes.append(f"worker exit code {code}; log {log}")
    result.notes += [f"start failed: {e}" for e in pacer.errors[:3]]
    connections.close_all()
    return result


class _WorkerStarts(Pacer):
    """The in-process flavour's starts, made by the worker: tell it to go, read its figures.

    A ``Pacer`` so that ``wait_done`` and the report see the same thing as
    for the other runs: alive while the worker starts workflows, then their count,
    first and last start and each call's duration.
    """

    def __init__(self, work: Workload, worker: subprocess.Popen, report: Path) -> None:
        super().__init__(work.sagas, work.rate, lambda i: None, work.starters)
        self.worker = worker
        self.report = report

    def run(self) -> None:
        assert self.worker.stdin is not None
        self.first = time.time()
        self.worker.stdin.write(b"go\n")
        self.worker.stdin.close()
        while not self.report.exists():
            if self.worker.poll() is not None:
                self.errors.append(f"the worker exited with {self.worker.returncode}")
                self.last = time.time()
                return
            time.sleep(0.05)
        figures = json.loads(self.report.read_text())
        self.started, self.first, self.last = figures["started"], figures["first"], figures["last"]
        self.durations, self.errors = figures["durations"], figures["errors"]


class _ServerCpu(ServerCpu):
    """``ServerCpu`` over the backends of the benchmark database and of DBOS's system database."""

    def __init__(self, system_db: str) -> None:
        self.system_db = system_db
        super().__init__()

    def _backends(self) -> dict[int, float]:  # type: ignore[override]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname IN (current_database(), %s) "
                "AND pid <> pg_backend_pid()",
                [self.system_db],
            )
            pids = [pid for (pid,) in cursor.fetchall()]
        found = {}
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            found[pid] = times.user + times.system
        return found


def _counters(system_db: str) -> dict[str, int]:
    """``db_counters()`` of the benchmark database and the system database added up.

    The same two transactions as ``db_counters()``, so that ``db_delta`` holds.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:
        sums = ", ".join(f"coalesce(sum({name}), 0)::bigint" for name in DB_FIELDS)
        cursor.execute(
            f"SELECT {sums} FROM pg_stat_database WHERE datname IN (current_database(), %s)",
            [system_db],
        )
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(DB_FIELDS, row, strict=True))


def _done(run_id: str, last: int) -> int:
    from .models import BenchRow

    return (
        BenchRow.objects.filter(run=run_id, system="dbos", position=last)
        .values("saga_key")
        .distinct()  # a step DBOS runs again (after a crash) writes its row again
        .count()
    )


def _system_url(name: str) -> str:
    """DBOS's system database on the benchmark's server, as an SQLAlchemy URL."""
    from sqlalchemy.engine import URL

    db = settings.DATABASES["default"]
    return URL.create(
        "postgresql+psycopg",
        username=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=int(db["PORT"]) if db.get("PORT") else None,
        database=name,
    ).render_as_string(hide_password=False)


def _recreate(name: str) -> None:
    """An empty system database: an earlier run's may have been left behind by a crash."""
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')


def _drop(name: str) -> None:
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _text(value: int | None) -> str:
    return "" if value is None else str(value)
