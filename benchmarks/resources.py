"""RSS and CPU of the workers, of this database's PostgreSQL backends and of RabbitMQ.

Read from outside the processes (psutil, /proc), so that measuring costs the
measured processes nothing.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import psutil
from django.db import connection

MB = 1024 * 1024


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
