"""Measurement and report: pacing, waiting, RSS, database counters, SQL, profile, tables.

Everything here runs in the benchmark's own process; ``probe.py`` is what
runs inside the engines.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from django.db import connection, connections

MB = 1024 * 1024


@dataclass
class Workload:
    """What one invocation runs, the same for django-saga and Celery."""

    sagas: int = 2000
    steps: int = 3
    engines: int = 2
    concurrency: int = 4
    #: Per engine consumer; None: the engines' own default (``SAGA['PREFETCH']``).
    prefetch: int | None = None
    #: Sagas started per second; None starts them as fast as one thread can.
    rate: float | None = None
    #: Start every saga in one transaction before the clock starts: the
    #: engines' throughput on a backlog, whatever starting them costs.
    backlog: bool = False
    #: Threads calling start() (Celery: applying chains) at once.
    starters: int = 1
    celery_concurrency: int = 2
    #: Seconds without progress before a run gives up.
    timeout: float = 120.0
    #: Sample RSS at every 10 % of the sagas, not only at warm-up and end.
    memory: bool = False
    log_dir: Path = Path(".")
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    #: Time the engines' hand-off path in segments (``probe.py``).
    trace: bool = False
    #: py-spy raw output for the first engine, if wanted; ``profile_gil``: GIL holder only.
    profile: Path | None = None
    profile_gil: bool = False


@dataclass
class RunResult:
    """What one run measured; times in seconds, memory in MB."""

    label: str
    started: int
    completed: int
    steps: int
    elapsed: float
    start_seconds: float
    first_hops: list[float]
    handoffs: list[float]
    saga_latencies: list[float]
    #: Process label -> VmHWM (peak RSS).
    peak_rss: dict[str, float]
    #: (label, sagas completed, process label -> RSS) at warm-up, progress marks and end.
    rss_marks: list[tuple[str, int, dict[str, float]]]
    cpu_seconds: float
    db: dict[str, int]
    rows: int
    #: Statements the workers executed (None if not counted), and how they were counted.
    statements: int | None = None
    statements_how: str = ""
    #: CPU of this database's PostgreSQL backends, and of the whole RabbitMQ server.
    pg_cpu_seconds: float | None = None
    broker_cpu_seconds: float | None = None
    #: Seconds each start() took (Celery: each chain's apply_async).
    start_latencies: list[float] = field(default_factory=list)
    starters: int = 1
    #: Backends of this database waiting for a lock, sampled during the run.
    lock_waits: LockWaits | None = None
    #: With ``--trace``: the hand-off in segments, (label, durations).
    breakdown: list[tuple[str, list[float]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_steps(self) -> int:
        return self.completed * self.steps


# -- percentiles ----------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.1f}"


# -- starting and waiting -------------------------------------------------------
class Pacer(threading.Thread):
    """Calls ``start(i)`` for i in range(n) from ``callers`` threads (each
    taking every ``callers``-th i): as fast as they can, or ``rate`` per
    second in all. Records how long each call took."""

    def __init__(
        self, n: int, rate: float | None, start: Callable[[int], None], callers: int = 1
    ) -> None:
        super().__init__(name="bench-starter", daemon=True)
        self.n = n
        self.rate = rate
        self.start_one = start
        self.callers = max(1, callers)
        self.started = 0
        self.first = self.last = 0.0
        self.errors: list[str] = []
        #: Seconds each successful call took.
        self.durations: list[float] = []
        self._lock = threading.Lock()

    def run(self) -> None:
        self.first = time.time()
        threads = [
            threading.Thread(target=self._call, args=(k,), name=f"bench-starter-{k}", daemon=True)
            for k in range(self.callers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.last = time.time()

    def _call(self, k: int) -> None:
        try:
            for i in range(k, self.n, self.callers):
                if self.rate:
                    time.sleep(max(0.0, self.first + i / self.rate - time.time()))
                began = time.perf_counter()
                try:
                    self.start_one(i)
                except Exception as exc:
                    with self._lock:
                        self.errors.append(repr(exc))
                    continue
                took = time.perf_counter() - began
                with self._lock:
                    self.started += 1
                    self.durations.append(took)
        finally:
            connections.close_all()


def wait_done(
    count: Callable[[], int],
    work: Workload,
    watch: RssWatch,
    pacer: Pacer,
) -> int:
    """Poll ``count()`` (completed sagas) every 0.5 s until all are done or progress stalls.

    Marks RSS at warm-up (10 % done) and at the end, and with ``work.memory`` at
    every 10 %. Returns the number of polls (each one database transaction).
    """
    total = work.sagas
    polls = 0
    last, last_change = -1, time.monotonic()
    next_mark = 1
    while True:
        done = count()
        polls += 1
        if done != last or pacer.is_alive():
            last, last_change = done, time.monotonic()
        while next_mark < 10 and done >= total * next_mark / 10:
            if next_mark == 1:
                watch.mark("warm-up", done)
            elif work.memory:
                watch.mark(f"{next_mark * 10}%", done)
            next_mark += 1
        if not pacer.is_alive():
            total = pacer.started  # some starts may have failed
            if done >= total:
                break
        if time.monotonic() - last_change > work.timeout:
            print(f"  no progress for {work.timeout:.0f}s: {done}/{total} done; giving up")
            break
        time.sleep(0.5)
    watch.mark("end", done)
    return polls


# -- processes ------------------------------------------------------------------
class RssWatch(threading.Thread):
    """Samples the RSS and CPU time of a set of processes."""

    def __init__(self, processes: dict[str, psutil.Process], interval: float = 0.5) -> None:
        super().__init__(name="bench-rss", daemon=True)
        self.processes = processes
        self.interval = interval
        self.marks: list[tuple[str, int, dict[str, float]]] = []
        self._cpu_start = {label: _cpu(p) for label, p in processes.items()}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.rss()

    def rss(self) -> dict[str, float]:
        found = {}
        for label, process in self.processes.items():
            try:
                found[label] = process.memory_info().rss / MB
            except psutil.Error:
                continue
        return found

    def mark(self, label: str, done: int) -> None:
        self.marks.append((label, done, self.rss()))

    def cpu_seconds(self) -> float:
        """CPU (user + system) the processes used since the watch was made."""
        total = 0.0
        for label, process in self.processes.items():
            try:
                total += _cpu(process) - self._cpu_start[label]
            except psutil.Error:
                continue
        return total

    def peaks(self) -> dict[str, float]:
        """VmHWM (peak RSS) of each process, read before it exits."""
        return {label: peak_rss(p.pid) for label, p in self.processes.items()}

    def stop(self) -> None:
        self._stop_event.set()


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def peak_rss(pid: int) -> float:
    """VmHWM of ``pid`` in MB, from /proc (NaN where there is none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class ServerCpu:
    """CPU used by this database's PostgreSQL backends and by the RabbitMQ server.

    Backends are found in pg_stat_activity at the start and at the end (read
    ``seconds()`` before the workers disconnect); one that came and went in
    between is missed. The broker figure is the whole ``beam.smp`` process,
    other users' traffic included.
    """

    def __init__(self) -> None:
        self._start = self._backends()
        self._broker = next(
            (p for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp"), None
        )
        self._broker_start = _cpu(self._broker) if self._broker else 0.0

    def seconds(self) -> tuple[float | None, float | None]:
        """(PostgreSQL backends, RabbitMQ) CPU seconds since this object was made."""
        end = self._backends()
        pg = sum(at - self._start.get(pid, 0.0) for pid, at in end.items()) if end else None
        broker = None
        if self._broker is not None:
            with contextlib.suppress(psutil.Error):
                broker = _cpu(self._broker) - self._broker_start
        return pg, broker

    @staticmethod
    def _backends() -> dict[int, float]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            pids = [pid for (pid,) in cursor.fetchall()]
        found = {}
        for pid in pids:
            try:
                found[pid] = _cpu(psutil.Process(pid))
            except psutil.Error:
                continue
        return found


def wait_for_log(process: subprocess.Popen, log: Path, needle: bytes, timeout: float) -> None:
    """Wait until ``log`` contains ``needle``; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while needle not in log.read_bytes():
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}: see {log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.args[:4]} not ready after {timeout:.0f}s: see {log}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen, timeout: float = 60.0) -> int:
    """SIGTERM (a graceful stop) and wait; SIGKILL if it takes longer than ``timeout``."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


# -- database -------------------------------------------------------------------
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


def transition_sql(steps: int) -> list[tuple[str, list[str]]]:
    """The SQL of start() and of each step's transition, captured in this process.

    One saga runs its steps through ``Processor.process`` here, one message at a
    time, as an engine would; each transition is one transaction.
    """
    from django.test.utils import CaptureQueriesContext

    from django_saga import Step, manager
    from django_saga.models import OutboxMessage
    from django_saga.processor import ACK, Processor
    from django_saga.stores import get_store

    store = get_store()
    processor = Processor(store)
    captured = []
    plan = [Step(f"s{p}", "bench.write", "bench.undo", {}) for p in range(steps)]
    with CaptureQueriesContext(connection) as queries:
        saga = manager.start("bench.sql", plan, {"run": "sql"})
    captured.append(("start()", [q["sql"] for q in queries.captured_queries]))
    # The first message is start()'s outbox row; each step hands back the next.
    first = OutboxMessage.objects.get(saga_id=saga.id, sent_at__isnull=True)
    store.mark_sent([first.id])
    body = first.body
    for position in range(steps):
        with CaptureQueriesContext(connection) as queries:
            result = processor.process(body.encode())
        if result.action != ACK:
            raise RuntimeError(f"step {position} of the SQL probe saga: {result}")
        if result.outgoing:
            body = result.outgoing[0].body
        label = "last step" if position == steps - 1 else f"step {position + 1}"
        captured.append((label, [q["sql"] for q in queries.captured_queries]))
    return captured


# -- py-spy -----------------------------------------------------------------------
class Profiler:
    """``py-spy record --format raw`` of one process while the run goes on.

    By default py-spy samples every thread that is not idle (waits on a
    socket count as running); with ``gil`` only the thread holding the GIL,
    which shows where the process spends Python CPU time.
    """

    def __init__(self, pid: int, output: Path, log: Path, gil: bool = False) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.output = output
        self._log = log.open("wb")
        command = [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "100"]
        if gil:
            command.append("--gil")
        self.process = subprocess.Popen(
            [*command, "--output", str(output)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::\d+)?\)$")


def profile_summary(path: Path, top: int = 15) -> str:
    """Top entries of a py-spy raw (collapsed stacks) file: by package, self and inclusive."""
    if not path.exists():
        return f"no profile at {path}"
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1][0]] += count
        packages[frames[-1][1]] += count
        for name in {f[0] for f in frames}:
            inclusive[name] += count
    if not total:
        return "the profile holds no samples"

    def rows(counter: Counter[str], skip: Callable[[str], bool] = lambda _: False) -> list[str]:
        picked = [(k, v) for k, v in counter.most_common() if not skip(k)][:top]
        return [f"  {v / total:6.1%}  {k}" for k, v in picked]

    outer = ("threading.py", "_bootstrap", "<module>", "runpy.py", "__main__")
    return "\n".join(
        [
            f"{total} samples",
            "where time goes, by package of the innermost frame:",
            *rows(packages),
            f"top {top} functions by own time:",
            *rows(own),
            f"top {top} functions by inclusive time (thread and process entry frames left out):",
            *rows(inclusive, lambda k: any(o in k for o in outer)),
            f"top {top} django_saga functions by inclusive time:",
            *rows(inclusive, lambda k: "(django_saga/" not in k),
        ]
    )


def _frame(text: str) -> tuple[str, str]:
    """("function (path.py)", package) of one py-spy frame; stdlib modules are marked."""
    match = _FRAME.match(text)
    if not match:
        return text, "?"
    func, file = match["func"], match["file"]
    top = file.split("/", 1)[0].removesuffix(".py")
    package = f"stdlib {top}" if top in sys.stdlib_module_names else top
    return f"{func} ({file})", package


# -- the report ------------------------------------------------------------------
def report(
    work: Workload,
    results: list[RunResult],
    sql: list[tuple[str, list[str]]],
    verbose: bool = False,
    compare: bool = True,
) -> str:
    """The figures of every run side by side, then ratios, SQL detail and memory."""
    lines = []
    table: list[tuple[str, list[str]]] = [
        ("sagas completed / started", [f"{r.completed}/{r.started}" for r in results]),
        ("time to start them (s)", [f"{r.start_seconds:.1f}" for r in results]),
        (
            "one start() p50/p99 (ms), callers at once",
            [f"{_pair(r.start_latencies, 50, 99)}, {r.starters}" for r in results],
        ),
        ("elapsed, first start -> last done (s)", [f"{r.elapsed:.1f}" for r in results]),
        ("sagas/s", [f"{_rate(r.completed, r.elapsed):.1f}" for r in results]),
        ("steps/s", [f"{_rate(r.total_steps, r.elapsed):.1f}" for r in results]),
        ("start -> first handler p50/p99 (ms)", [_pair(r.first_hops, 50, 99) for r in results]),
        ("hand-off p50 (ms)", [ms(r.handoffs, 50) for r in results]),
        ("hand-off p95 (ms)", [ms(r.handoffs, 95) for r in results]),
        ("hand-off p99 (ms)", [ms(r.handoffs, 99) for r in results]),
        ("hand-off mean / max (ms)", [_mean_max(r.handoffs) for r in results]),
        ("saga latency p50/p99 (ms)", [_pair(r.saga_latencies, 50, 99) for r in results]),
        ("worker CPU per step (ms)", [_per_step(_ms(r.cpu_seconds), r) for r in results]),
        (
            "PostgreSQL backends CPU per step (ms)",
            [_per_step(_ms(r.pg_cpu_seconds), r) for r in results],
        ),
        (
            "RabbitMQ server CPU per step (ms)",
            [_per_step(_ms(r.broker_cpu_seconds), r) for r in results],
        ),
        ("peak RSS per process (MB)", [_peaks(r.peak_rss) for r in results]),
        ("RSS warm-up -> end, sum (MB)", [_growth(r) for r in results]),
        ("DB transactions per step", [_per_step(r.db.get("xact_commit"), r) for r in results]),
        ("DB rows ins/upd/del per step", [_rows_per_step(r) for r in results]),
        ("DB connections opened", [str(r.db.get("sessions", "n/a")) for r in results]),
        (
            "backends waiting for a lock, mean / max (% of samples)",
            [r.lock_waits.summary() if r.lock_waits else "n/a" for r in results],
        ),
        ("deadlocks", [str(r.db.get("deadlocks", "n/a")) for r in results]),
        ("SQL statements per step", [_per_step(r.statements, r) for r in results]),
        ("  counted", [r.statements_how or "n/a" for r in results]),
        ("benchmark rows written / expected", [f"{r.rows}/{r.total_steps}" for r in results]),
    ]
    width = max(len(name) for name, _ in table) + 2
    col = max(
        20, *(len(v) + 2 for _, vs in table for v in vs), *(len(r.label) + 2 for r in results)
    )
    lines.append("".ljust(width) + "".join(r.label.rjust(col) for r in results))
    for name, values in table:
        lines.append(name.ljust(width) + "".join(v.rjust(col) for v in values))
    if compare:
        lines += [ratios(results[0], other) for other in results[1:]]
    lines.append("")
    if sql:
        lines.append(
            "django-saga SQL statements per transaction, captured in-process "
            "(CaptureQueriesContext, not counting BEGIN and COMMIT): "
            + ", ".join(f"{label}: {_statements(statements)}" for label, statements in sql)
        )
    if verbose:
        for label, statements in sql:
            lines.append(f"  {label}:")
            lines += [f"    {s[:160]}" for s in statements]
    for result in results:
        if result.breakdown:
            lines.append(f"hand-off of {result.label} in segments (ms), p50 / p99:")
            for label, values in result.breakdown:
                lines.append(f"  {label:<48} {ms(values, 50):>8} / {ms(values, 99):>8}")
        if work.memory:
            lines.append(f"RSS of {result.label} (MB) by sagas completed:")
            for label, done, rss in result.rss_marks:
                per = " ".join(f"{k}={v:.1f}" for k, v in rss.items())
                lines.append(f"  {label:>8} {done:>7}: {per}")
        if result.lock_waits and result.lock_waits.by_event:
            events = " ".join(f"{k}={v}" for k, v in result.lock_waits.by_event.most_common())
            lines.append(
                f"lock waits of {result.label} by wait event (backends x samples): {events}"
            )
        lines += [f"note ({result.label}): {n}" for n in result.notes]
    return "\n".join(lines)


def ratios(saga: RunResult, other: RunResult) -> str:
    """One line: django-saga's figures divided by another run's."""

    def p(result: RunResult, values: str, q: float) -> float:
        return percentile(getattr(result, values), q)

    def cpu(result: RunResult) -> float:
        return result.cpu_seconds / max(1, result.total_steps)

    pairs = [
        ("sagas/s", _rate(saga.completed, saga.elapsed), _rate(other.completed, other.elapsed)),
        ("hand-off p50", p(saga, "handoffs", 50), p(other, "handoffs", 50)),
        ("hand-off p99", p(saga, "handoffs", 99), p(other, "handoffs", 99)),
        ("saga latency p50", p(saga, "saga_latencies", 50), p(other, "saga_latencies", 50)),
        ("worker CPU per step", cpu(saga), cpu(other)),
    ]
    return f"ratio django-saga / {other.label}: " + ", ".join(
        f"{name} x{_ratio(a, b)}" for name, a, b in pairs
    )


def pair_summary(runs: list[list[RunResult]]) -> str:
    """Each pair's throughput ratio, django-saga / the Celery chain, and their median."""
    lines = [
        f"sagas/s in {len(runs)} pairs, django-saga / {runs[0][1].label} "
        "(and each one's worker, PostgreSQL CPU ms per step; DB transactions and rows "
        "inserted/updated/deleted per step):"
    ]
    ratios = []
    for n, (saga, celery, *_) in enumerate(runs, 1):
        a, b = _rate(saga.completed, saga.elapsed), _rate(celery.completed, celery.elapsed)
        ratios.append(a / b)
        first = "Celery" if n % 2 == 0 else "django-saga"
        cpu = " vs ".join(
            f"{_per_step(_ms(r.cpu_seconds), r)}, {_per_step(_ms(r.pg_cpu_seconds), r)}"
            for r in (saga, celery)
        )
        writes = " vs ".join(
            f"{_per_step(r.db.get('xact_commit'), r)} txn, {_rows_per_step(r)} rows"
            for r in (saga, celery)
        )
        lines.append(
            f"  pair {n} ({first} first): {a:.1f} / {b:.1f} = x{a / b:.2f}   ({cpu})   "
            f"per step: {writes}"
        )
    lines.append(f"median ratio x{statistics.median(ratios):.2f}")
    return "\n".join(lines)


def machine_line() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} CPUs, load average {load}, Python {sys.version.split()[0]}"


def _statements(statements: list[str]) -> int:
    return sum(1 for s in statements if s not in ("BEGIN", "COMMIT"))


def _rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _pair(values: list[float], a: float, b: float) -> str:
    return f"{ms(values, a)} / {ms(values, b)}"


def _mean_max(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.fmean(values) * 1000:.1f} / {max(values) * 1000:.1f}"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _per_step(value: float | None, result: RunResult) -> str:
    if value is None or not result.total_steps:
        return "n/a"
    return f"{value / result.total_steps:.2f}"


def _rows_per_step(result: RunResult) -> str:
    db = result.db
    if not db:
        return "n/a"
    n = max(1, result.total_steps)
    return "/".join(f"{db[k] / n:.2f}" for k in ("tup_inserted", "tup_updated", "tup_deleted"))


def _peaks(peaks: dict[str, float]) -> str:
    return " ".join(f"{v:.0f}" for v in peaks.values())


def _growth(result: RunResult) -> str:
    marks = {label: rss for label, _, rss in result.rss_marks}
    if "warm-up" not in marks or "end" not in marks:
        return "n/a"
    warm, end = sum(marks["warm-up"].values()), sum(marks["end"].values())
    return f"{warm:.0f} -> {end:.0f} ({end - warm:+.1f})"
