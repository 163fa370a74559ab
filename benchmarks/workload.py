"""What a run is asked to do and what it measured: the two records every other module passes.

``Workload`` is the same for django-saga and for Celery, so that both do the
same work; ``RunResult`` is what the report puts side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .pgstats import LockWaits


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
    #: A concurrency limit on every benchmark action (None: none), to
    #: measure what a limit costs per step.
    limited: int | None = None
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
