"""Idle cost of sleepers: engine CPU with no saga, then with N sagas asleep for days.

1. Fresh engines on the empty database: their CPU over a window.
2. N sagas started (``time_starting``), each sleeping for days once an
   engine has run its first message; then the engines stop.
3. Fresh engines again: their CPU over the same window, with the N sleepers
   in the tables (N rows of ``timeout_at``, N outbox rows due in days).
4. The sweeper's and relay's periodic queries, timed (``time_queries``).
5. The sleepers made older than ``STALE_AFTER`` (their ``updated_at`` moved
   back two hours, as after two hours of sleep), and a third window: the
   sweeper's stale query now has every sleeper to look at.

Each window starts ``settle`` seconds after the engines say they consume
and lasts ``window`` seconds (60 by default), so it holds the sweeper's
sweeps every ``SWEEP_INTERVAL`` (5 s) and its first stale sweep (at 5 s;
the next comes 60 s later, after the window).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.db import connections
from django.db.models import F

from django_saga.models import Saga

from .time_engines import Cpu, Engines
from .time_queries import QueryTime, periodic_queries
from .time_sagas import SLEEPER_DAYS, sleeper_plan
from .time_starting import Started, analyze, delayed_outbox, start_sleeping

#: How far back the sleepers' ``updated_at`` is moved for the third window.
AGED = timedelta(hours=2)


@dataclass
class Sleepers:
    count: int
    empty: Cpu
    asleep: Cpu | None = None
    aged: Cpu | None = None
    started: Started | None = None
    #: Unsent outbox rows due more than a day later, once all slept.
    delayed_rows: int = 0
    queries: list[QueryTime] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        if self.asleep is None or not self.empty.engines:
            return float("nan")
        return self.asleep.engines / self.empty.engines

    @property
    def held(self) -> bool:
        """No engine CPU beyond the empty database's (10 % and 0.5 s of slack,
        a window's noise), with or without the stale sweep's scan."""
        windows = [w for w in (self.asleep, self.aged) if w is not None]
        if not windows or self.started is None or self.started.sleeping < self.count:
            return False
        limit = max(self.empty.engines * 1.10, self.empty.engines + 0.5)
        return all(w.engines <= limit for w in windows)


def measure_sleepers(
    count: int,
    engines: int,
    concurrency: int,
    window: float,
    log_dir: Path,
    broker_url: str,
    timeout: float,
    say: Callable[[str], None],
) -> Sleepers:
    def fresh(label: str) -> Engines:
        return Engines(engines, concurrency, log_dir, broker_url, label)

    say(f"idle window, empty database: {window:.0f} s ...")
    with fresh("sleepers-empty") as running:
        result = Sleepers(count, running.window(window))
    say(f"  engine CPU {result.empty.engines:.2f} s")
    run_id = uuid.uuid4().hex[:8]
    name = f"bench.sleeper.{run_id}"
    say(f"starting {count} sagas that sleep {SLEEPER_DAYS} days ...")
    with fresh("sleepers-start"):
        result.started = start_sleeping(name, sleeper_plan(), {"run": run_id}, count, timeout, say)
    say(
        f"  {result.started.sleeping}/{count} sleeping after {result.started.sleeping_seconds:.0f}"
        f" s (start() calls took {result.started.start_seconds:.0f} s)"
    )
    result.delayed_rows = delayed_outbox(timedelta(days=1))
    analyze()
    say(f"idle window, {count} sleepers: {window:.0f} s ...")
    with fresh("sleepers-asleep") as running:
        result.asleep = running.window(window)
    say(f"  engine CPU {result.asleep.engines:.2f} s")
    say("timing the sweeper's and the relay's queries ...")
    result.queries = periodic_queries()
    for query in result.queries:
        say(f"  {query.line()}")
    Saga.objects.filter(name=name).update(updated_at=F("updated_at") - AGED)
    analyze()
    say(f"idle window, {count} sleepers older than STALE_AFTER: {window:.0f} s ...")
    with fresh("sleepers-aged") as running:
        result.aged = running.window(window)
    say(f"  engine CPU {result.aged.engines:.2f} s")
    connections.close_all()
    return result
