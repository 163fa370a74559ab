"""The django-saga run: engine subprocesses, N sagas of k steps, timings read back.

Each step's handler (``sagas.py``) writes one ``BenchRow`` stamped with the
time it started; each engine logs when each step's transaction committed
(``probe.py``). The hand-off latency of step i > 0 is its handler's start
minus the commit of step i - 1 (the step's ``executed_at``, stamped just
before that commit, if the commit was not logged). With ``--trace`` the
engines also log the points in between, and the hand-off is cut into segments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pika
import psutil
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Max

from django_saga import Step, manager
from django_saga.models import Saga, SagaStep

from . import probe
from .models import BenchRow
from .pacing import Pacer, wait_done
from .pgstats import LockWatch, db_counters, db_delta
from .profiler import Profiler
from .resources import RssWatch, ServerCpu
from .subprocesses import stop_process, wait_for_log
from .workload import RunResult, Workload

ROOT = Path(__file__).resolve().parents[1]
NAME_KEYS = ("STEP_QUEUE", "COMPENSATE_QUEUE", "PRIORITY_QUEUE", "DEAD_LETTER_QUEUE")


def broker_names(url: str) -> dict[str, str]:
    """A ``SAGA`` fragment with exchange and queue names no one else uses."""
    prefix = f"saga-bench-{uuid.uuid4().hex[:10]}"
    return {
        "BROKER_URL": url,
        "EXCHANGE": f"{prefix}.sagas",
        "STEP_QUEUE": f"{prefix}.steps",
        "COMPENSATE_QUEUE": f"{prefix}.compensate",
        "PRIORITY_QUEUE": f"{prefix}.urgent",
        "DEAD_LETTER_EXCHANGE": f"{prefix}.dlx",
        "DEAD_LETTER_QUEUE": f"{prefix}.dead",
    }


def delete_topology(names: dict[str, str]) -> None:
    """Delete the run's queues and exchanges."""
    connection = pika.BlockingConnection(pika.URLParameters(names["BROKER_URL"]))
    try:
        channel = connection.channel()
        for key in NAME_KEYS:
            channel.queue_delete(names[key])
        for key in ("EXCHANGE", "DEAD_LETTER_EXCHANGE"):
            channel.exchange_delete(names[key])
    finally:
        connection.close()


def start_engine(index: int, work: Workload, names: dict[str, str], stats: Path):
    """One ``saga_engine`` subprocess on the benchmark database, logging to a file."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    env["SAGA_BENCH_DB"] = str(settings.DATABASES["default"]["NAME"])
    env["SAGA_BENCH_SAGA"] = repr(names)
    env["SAGA_BENCH_STATS_DIR"] = str(stats)
    env["SAGA_BENCH_TRACE"] = "1" if work.trace else "0"
    env["SAGA_BENCH_LIMIT"] = str(work.limited or "")
    log = work.log_dir / f"engine-{index}.log"
    command = [sys.executable, "-m", "django", "saga_engine", "--settings", "benchmarks.settings"]
    command += ["--concurrency", str(work.concurrency)]
    if work.prefetch is not None:
        command += ["--prefetch", str(work.prefetch)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    return process, log


def run_sagas(work: Workload) -> RunResult:
    """Run ``work.sagas`` sagas through ``work.engines`` engines and measure them."""
    names = broker_names(work.broker_url)
    settings.SAGA = {**settings.SAGA, **names}
    run_id = uuid.uuid4().hex[:8]
    name = f"bench.{run_id}"
    stats = work.log_dir / "saga"
    shutil.rmtree(stats, ignore_errors=True)  # an earlier run's logs
    stats.mkdir(parents=True)
    plan = [Step(f"s{p}", "bench.write", "bench.undo", {}) for p in range(work.steps)]
    engines = []
    profiler = None
    try:
        engines = [start_engine(i, work, names, stats) for i in range(work.engines)]
        for process, log in engines:
            wait_for_log(process, log, b"consuming", 60)
        watch = RssWatch({f"e{i}": psutil.Process(p.pid) for i, (p, _) in enumerate(engines)})
        watch.start()
        if work.profile is not None:
            log = work.log_dir / "py-spy.log"
            profiler = Profiler(engines[0][0].pid, work.profile, log, work.profile_gil)

        def start(i: int) -> None:
            manager.start(name, plan, {"run": run_id})

        if work.backlog:
            pacer = _backlog(work.sagas, start)
        before = db_counters()
        servers = ServerCpu()
        locks = LockWatch()
        locks.start()
        if not work.backlog:
            pacer = Pacer(work.sagas, work.rate, start, work.starters)
            pacer.start()
        polls = wait_done(
            lambda: Saga.objects.filter(name=name, state="completed").count(), work, watch, pacer
        )
        if pacer.ident is not None:
            pacer.join()
        lock_waits = locks.stop()
        pg_cpu, broker_cpu = servers.seconds()
        cpu = watch.cpu_seconds()
        peaks = watch.peaks()
        watch.stop()
    finally:
        if profiler is not None:
            profiler.stop()
        codes = [stop_process(process) for process, _ in engines]
        delete_topology(names)
    after = db_counters()
    result = _collect(name, run_id, work, stats)
    result.started = pacer.started
    result.start_latencies, result.starters = pacer.durations, pacer.callers
    if work.backlog and result.completed:
        # From the commit that handed the engines every saga at once.
        last = Saga.objects.filter(name=name).aggregate(end=Max("completed_at"))["end"]
        result.elapsed = last.timestamp() - pacer.last
    result.start_seconds = pacer.last - pacer.first
    result.peak_rss = peaks
    result.rss_marks = watch.marks
    result.cpu_seconds = cpu
    result.pg_cpu_seconds, result.broker_cpu_seconds = pg_cpu, broker_cpu
    # The lock sampler's queries are transactions on this database too.
    result.db = db_delta(before, after, polls + lock_waits.samples)
    result.lock_waits = lock_waits
    result.statements_how = "in the engines"
    counts = [int(p.read_text()) for p in stats.glob("sql-*.txt")]
    result.statements = sum(counts) if len(counts) == len(engines) else None
    if result.statements is None:
        result.notes.append(f"statement counts found for {len(counts)} of {len(engines)} engines")
    if any(codes):
        result.notes.append(f"engine exit codes {codes}; logs in {work.log_dir}")
    result.notes += [f"start() failed: {e}" for e in pacer.errors[:3]]
    connections.close_all()
    return result


def _backlog(sagas: int, start: Callable[[int], None]) -> Pacer:
    """Start every saga in one transaction while the engines wait: they get
    the whole backlog at the commit, whatever CPU starting it took. Returns a
    finished ``Pacer`` whose ``last`` is the commit's time."""
    pacer = Pacer(sagas, None, start)
    pacer.first = time.time()
    with transaction.atomic():
        for i in range(sagas):
            start(i)
    pacer.started = sagas
    pacer.last = time.time()
    return pacer


def _collect(name: str, run_id: str, work: Workload, stats: Path) -> RunResult:
    """Read the run's timings back from the database and the engines' event logs."""
    sagas = {
        pk: (created.timestamp(), done.timestamp() if done else None)
        for pk, created, done in Saga.objects.filter(name=name).values_list(
            "id", "created_at", "completed_at"
        )
    }
    events = _events(stats)
    commits = events.get(probe.COMMIT, {})
    committed: dict[tuple[str, int], float] = {}
    ids: dict[tuple[str, int], str] = {}
    missing = 0
    for step_id, saga_id, position, executed in SagaStep.objects.filter(
        saga__name=name
    ).values_list("id", "saga_id", "position", "executed_at"):
        ids[(saga_id, position)] = step_id
        if step_id in commits:
            committed[(saga_id, position)] = commits[step_id]
        elif executed is not None:
            missing += 1
            committed[(saga_id, position)] = executed.timestamp()
    started = {
        (key, position): at
        for key, position, at in BenchRow.objects.filter(run=run_id, system="saga").values_list(
            "saga_key", "position", "started"
        )
    }
    handoffs, first_hops = [], []
    for (saga_id, position), at in started.items():
        if position == 0:
            first_hops.append(at - sagas[saga_id][0])
        elif (saga_id, position - 1) in committed:
            handoffs.append(at - committed[(saga_id, position - 1)])
    done = [(created, end) for created, end in sagas.values() if end is not None]
    elapsed = max(end for _, end in done) - min(c for c, _ in sagas.values()) if done else 0.0
    result = RunResult(
        label="django-saga",
        started=0,
        completed=len(done),
        steps=work.steps,
        elapsed=elapsed,
        start_seconds=0.0,
        first_hops=first_hops,
        handoffs=handoffs,
        saga_latencies=[end - created for created, end in done],
        peak_rss={},
        rss_marks=[],
        cpu_seconds=0.0,
        db={},
        rows=BenchRow.objects.filter(run=run_id, system="saga").count(),
    )
    if missing:
        result.notes.append(f"{missing} commit time(s) not logged; executed_at used for them")
    if work.trace:
        result.breakdown = _breakdown(events, ids, started) + _first_hop(
            events, ids, started, sagas
        )
    return result


def _events(stats: Path) -> dict[str, dict[str, float]]:
    """kind -> step id -> time of the first such event, from every engine's log."""
    found: dict[str, dict[str, float]] = {}
    for path in stats.glob("events-*.log"):
        for line in path.read_text().splitlines():
            kind, step_id, at = line.split()
            found.setdefault(kind, {}).setdefault(step_id, float(at))
    return found


def _breakdown(
    events: dict[str, dict[str, float]],
    ids: dict[tuple[str, int], str],
    started: dict[tuple[str, int], float],
) -> list[tuple[str, list[float]]]:
    """The hand-off cut into segments, from the engines' traced events."""
    labels = [
        "commit -> the I/O thread takes the result",
        "-> the next message is published (confirmed)",
        "-> it is delivered to an engine's I/O thread",
        "-> a worker thread picks it up",
        "-> the handler starts",
    ]
    paths = []
    for (saga_id, position), at in started.items():
        previous, step = ids.get((saga_id, position - 1)), ids.get((saga_id, position))
        if position == 0 or previous is None or step is None:
            continue
        paths.append(
            [
                events.get(probe.COMMIT, {}).get(previous),
                events.get(probe.FINISH, {}).get(previous),
                events.get(probe.PUBLISHED, {}).get(step),
                events.get(probe.DELIVERED, {}).get(step),
                events.get(probe.PICKED, {}).get(step),
                at,
            ]
        )
    return _segments(labels, paths)


def _first_hop(
    events: dict[str, dict[str, float]],
    ids: dict[tuple[str, int], str],
    started: dict[tuple[str, int], float],
    sagas: dict[str, tuple[float, float | None]],
) -> list[tuple[str, list[float]]]:
    """Start to first handler in segments: ``created_at`` (stamped inside
    ``start()``, before its commit), the first message published by a relay,
    delivered, picked up by a worker, the handler's start."""
    labels = [
        "first hop: start() -> first message published",
        "first hop: -> delivered to an engine's I/O thread",
        "first hop: -> a worker thread picks it up",
        "first hop: -> the handler starts",
    ]
    paths = []
    for (saga_id, position), at in started.items():
        step = ids.get((saga_id, position))
        if position != 0 or step is None or saga_id not in sagas:
            continue
        paths.append(
            [
                sagas[saga_id][0],
                events.get(probe.PUBLISHED, {}).get(step),
                events.get(probe.DELIVERED, {}).get(step),
                events.get(probe.PICKED, {}).get(step),
                at,
            ]
        )
    return _segments(labels, paths)


def _segments(labels: list[str], paths: list[list[float | None]]) -> list[tuple[str, list[float]]]:
    """Each label with the times between consecutive points of every path
    whose points were all traced."""
    found: list[list[float]] = [[] for _ in labels]
    for points in paths:
        if None in points:
            continue
        for values, a, b in zip(found, points, points[1:], strict=False):
            assert a is not None and b is not None
            values.append(b - a)
    return list(zip(labels, found, strict=True))
