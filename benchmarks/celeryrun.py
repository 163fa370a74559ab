"""The Celery baseline: a chain of k tasks per saga, each doing the same one ORM write.

This module is also the Celery app the worker subprocess loads
(``celery -A benchmarks.celeryrun worker``); the worker reads its queue name
and flavour from ``SAGA_BENCH_CELERY_QUEUE`` and ``SAGA_BENCH_CELERY_DEFAULTS``.

Flavours: ``acks_late+confirms`` (``task_acks_late=True`` and publisher
confirms, the at-least-once setting closest to django-saga's guarantees, and
database connections kept across tasks, as django-saga's engines keep theirs)
and ``defaults`` (Celery's own defaults: ack on receipt, no confirms, and its
Django fixup closing the database connection after every task).

Each task returns ``time.time()`` after its write committed, and the chain
passes it to the next task as ``prev_done``: the hand-off latency is the next
task's start minus that.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
from celery import Celery, chain
from django.conf import settings
from django.db import connections
from kombu import Connection

from .chain_rows import collect, write_row
from .pacing import Pacer, wait_done
from .pgstats import db_counters, db_delta
from .resources import RssWatch, ServerCpu
from .subprocesses import stop_process, wait_for_log
from .workload import RunResult, Workload

# Only modules that need no django.setup(): the worker imports this one before it.
ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

app = Celery("saga_bench")


def configure(broker_url: str, queue: str, defaults: bool) -> None:
    """Point the app at ``queue``; unless ``defaults``, ack late and confirm publishes."""
    conf: dict[str, object] = {
        "broker_url": broker_url,
        "task_default_queue": queue,
        "task_ignore_result": True,
        "worker_enable_remote_control": False,
        "broker_connection_retry_on_startup": True,
    }
    if not defaults:
        conf["task_acks_late"] = True
        conf["broker_transport_options"] = {"confirm_publish": True}
        # Celery's Django fixup closes connections after each task unless told
        # to reuse them (it closes every 2 * CELERY_DB_REUSE_MAX task signals).
        conf["CELERY_DB_REUSE_MAX"] = 10**9
    app.conf.update(conf)


if os.environ.get("SAGA_BENCH_CELERY_QUEUE"):
    configure(
        os.environ.get("SAGA_BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
        os.environ["SAGA_BENCH_CELERY_QUEUE"],
        os.environ.get("SAGA_BENCH_CELERY_DEFAULTS") == "1",
    )


@app.task(name="bench.step")
def step(prev_done: float, run: str, key: str, position: int) -> float:
    return write_row("celery", run, key, position, prev_done)


def run_celery(work: Workload, defaults: bool = False) -> RunResult:
    """Run ``work.sagas`` chains through one prefork worker and measure them."""
    from .models import BenchRow

    label = "celery defaults" if defaults else "celery acks_late+confirms"
    queue = f"saga-bench-{uuid.uuid4().hex[:10]}.celery"
    configure(work.broker_url, queue, defaults)
    run_id = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    env["SAGA_BENCH_DB"] = str(settings.DATABASES["default"]["NAME"])
    env["SAGA_BENCH_BROKER_URL"] = work.broker_url
    env["SAGA_BENCH_CELERY_QUEUE"] = queue
    env["SAGA_BENCH_CELERY_DEFAULTS"] = "1" if defaults else "0"
    env.pop("SAGA_BENCH_STATS_DIR", None)
    log = work.log_dir / f"celery-{'defaults' if defaults else 'acks-late'}.log"
    command = [sys.executable, "-m", "celery", "-A", "benchmarks.celeryrun", "worker"]
    command += ["-P", "prefork", "-c", str(work.celery_concurrency), "-Q", queue, "-l", "INFO"]
    command += ["-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with log.open("wb") as out:
        worker = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_for_log(worker, log, b" ready.", 60)
        main = psutil.Process(worker.pid)
        processes = {"main": main}
        processes.update({f"w{i}": p for i, p in enumerate(main.children(recursive=True))})
        watch = RssWatch(processes)
        watch.start()
        before = db_counters()
        servers = ServerCpu()

        def start(i: int) -> None:
            key = str(i)
            first = step.s(time.time(), run_id, key, 0)
            chain(first, *(step.s(run_id, key, p) for p in range(1, work.steps))).apply_async()

        pacer = Pacer(work.sagas, work.rate, start, work.starters)
        pacer.start()
        last = work.steps - 1
        polls = wait_done(
            # distinct: with acks_late a redelivered task writes its row again
            lambda: (
                BenchRow.objects.filter(run=run_id, system="celery", position=last)
                .values("saga_key")
                .distinct()
                .count()
            ),
            work,
            watch,
            pacer,
        )
        pacer.join()
        pg_cpu, broker_cpu = servers.seconds()
        cpu = watch.cpu_seconds()
        peaks = watch.peaks()
        watch.stop()
    finally:
        code = stop_process(worker)
        with Connection(work.broker_url) as connection:
            channel = connection.default_channel
            channel.queue_delete(queue)
            channel.exchange_delete(queue)
    after = db_counters()
    result = collect("celery", run_id, work, label, pacer, watch, peaks, cpu)
    result.pg_cpu_seconds, result.broker_cpu_seconds = pg_cpu, broker_cpu
    result.db = db_delta(before, after, polls)
    result.statements = _task_statements() * result.total_steps
    result.statements_how = "1 task, in-process"
    if code:
        result.notes.append(f"worker exit code {code}; log {log}")
    result.notes += [f"apply_async failed: {e}" for e in pacer.errors[:3]]
    connections.close_all()
    return result


def _task_statements() -> int:
    """Statements one task runs, called in this process (the workers are not instrumented)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        step(0.0, "sql", "sql", 0)
    return len(queries.captured_queries)
