"""Engines for ``saga_time``: the services checked, engine subprocesses started
and stopped, and their CPU over a fixed window.

Engines are started and stopped with ``saga_bench``'s own helpers
(``sagarun.start_engine``, ``subprocesses``), on queues of their own that
are deleted when they stop, so that a run leaves nothing on the broker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pika
import psutil
from django.conf import settings
from django.core.management.base import CommandError
from django.db import OperationalError, connections

from .profiler import Profiler
from .resources import RssWatch, ServerCpu
from .sagarun import broker_names, delete_topology, start_engine
from .subprocesses import stop_process, wait_for_log
from .workload import Workload

#: Seconds an engine has to say it consumes.
READY_TIMEOUT = 60.0


def check_services(broker_url: str) -> None:
    """Raise ``CommandError`` naming PostgreSQL or RabbitMQ if either is unreachable."""
    db = settings.DATABASES["default"]
    where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432} as {db.get('USER')!r}"
    try:
        with connections["default"]._nodb_cursor() as cursor:
            cursor.execute("SELECT 1")
    except OperationalError as exc:
        raise CommandError(
            f"PostgreSQL is unreachable at {where}: {exc}".strip()
            + " (set SAGA_BENCH_PG_HOST/_PORT/_USER/_PASSWORD)"
        ) from exc
    params = pika.URLParameters(broker_url)
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.blocked_connection_timeout = 5
    try:
        pika.BlockingConnection(params).close()
    except pika.exceptions.AMQPError as exc:
        shown = f"{params.host}:{params.port}"
        raise CommandError(
            f"RabbitMQ is unreachable at {shown}: {type(exc).__name__} {exc} "
            "(set SAGA_BENCH_BROKER_URL or --broker-url)"
        ) from exc


@dataclass
class Cpu:
    """CPU seconds (user + system) over a window of ``seconds``."""

    seconds: float
    engines: float
    #: This database's PostgreSQL backends (the engines' connections).
    postgres: float | None
    #: Every other process on the machine: the load others put on it meanwhile.
    others: float

    def share(self, value: float | None) -> str:
        """``value`` as a share of one core over the window."""
        return "n/a" if value is None else f"{100 * value / self.seconds:.2f} % of a core"


class Engines:
    """``count`` ``saga_engine`` subprocesses on the current database, as a context.

    On entry they are started and waited for until they consume; on exit they
    get SIGTERM and their queues and exchanges are deleted.
    """

    def __init__(
        self, count: int, concurrency: int, log_dir: Path, broker_url: str, label: str
    ) -> None:
        self.count = count
        self.log_dir = log_dir / label
        self.work = Workload(
            engines=count, concurrency=concurrency, log_dir=self.log_dir, broker_url=broker_url
        )
        self.names: dict[str, str] = {}
        self.processes: list[psutil.Process] = []
        self._started: list = []
        self._profiler: Profiler | None = None

    def __enter__(self) -> Engines:
        shutil.rmtree(self.log_dir, ignore_errors=True)
        stats = self.log_dir / "saga"
        stats.mkdir(parents=True)
        self.names = broker_names(self.work.broker_url)
        settings.SAGA = {**settings.SAGA, **self.names}
        try:
            for i in range(self.count):
                self._started.append(start_engine(i, self.work, self.names, stats))
            for process, log in self._started:
                wait_for_log(process, log, b"consuming", READY_TIMEOUT)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.processes = [psutil.Process(p.pid) for p, _ in self._started]
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._profiler is not None:
            self._profiler.stop()
            self._profiler = None
        codes = [stop_process(process) for process, _ in self._started]
        self._started = []
        if self.names:
            delete_topology(self.names)
        if any(codes) and kind is None:
            print(f"  engine exit codes {codes}: see {self.log_dir}")

    def profile(self, output: Path, gil: bool) -> None:
        """py-spy (raw) on engine 0 until the engines stop."""
        log = self.log_dir / "py-spy.log"
        self._profiler = Profiler(self.processes[0].pid, output, log, gil)

    def stop_profile(self) -> None:
        if self._profiler is not None:
            self._profiler.stop()
            self._profiler = None

    def watch(self) -> RssWatch:
        """A CPU (and RSS) reading of the engines from now on (not started as a thread)."""
        return RssWatch({f"e{i}": p for i, p in enumerate(self.processes)})

    def window(self, seconds: float, settle: float = 2.0) -> Cpu:
        """The engines' CPU over ``seconds``, after ``settle`` seconds of quiet."""
        time.sleep(settle)
        span = Span(self)
        time.sleep(seconds)
        return span.read()


class Span:
    """CPU from now on: the engines', their PostgreSQL backends', everyone else's."""

    def __init__(self, engines: Engines) -> None:
        self.watch = engines.watch()
        self.servers = ServerCpu()
        self.machine = _machine_cpu()
        self.mine = _own_cpu()
        self.began = time.monotonic()

    def read(self) -> Cpu:
        engines = self.watch.cpu_seconds()
        postgres, _ = self.servers.seconds()
        mine = _own_cpu() - self.mine
        others = _machine_cpu() - self.machine - engines - (postgres or 0.0) - mine
        return Cpu(time.monotonic() - self.began, engines, postgres, max(others, 0.0))


def _machine_cpu() -> float:
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def machine_note(sample: float = 2.0, when: str = "before the run") -> str:
    """Cores, how busy the machine is right now (``sample`` seconds of it), and
    whether PostgreSQL runs autovacuum (without it, the statistics of a
    table are those of its last ``ANALYZE``)."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    note = f"machine: {os.cpu_count()} CPUs, load average {load}"
    with contextlib.suppress(Exception):
        note += f", {psutil.cpu_percent(interval=sample):.0f} % busy {when} (all processes)"
    with contextlib.suppress(Exception), connections["default"]._nodb_cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        note += f"; PostgreSQL autovacuum {cursor.fetchone()[0]}"
    return note
