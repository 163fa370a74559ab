"""Many schedules due at the same tick.

With the engines running (so that their start-up sync of code's schedules
is done), ``--schedules`` rows are made with ``schedules.sync.create``, in
one transaction, each ``every=3600`` seconds from ``starts=T``: all due at
the whole second ``T``, once in the run. Each starts ``TickSaga`` (one step,
one insert). From ``T`` the benchmark polls until every schedule's run row
for ``T`` is there, then reads back, per schedule:

- its run started: the ``ScheduleRun`` row's ``started_at`` (stamped by the
  ticker in the transaction that starts the saga, committed with its batch
  of ``ticking.BATCH`` schedules), minus ``T``;
- its saga done: the saga's ``completed_at``, minus ``T``;

and the time the poll first saw every run row (committed), minus ``T``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.db import connections, transaction

from django_saga import schedule
from django_saga.models import Saga, ScheduleRun
from django_saga.schedules import sync

from .time_engines import Cpu, Engines, Span
from .time_sagas import TickSaga
from .time_starting import analyze

#: Seconds to make one schedule row, with half again and 15 s to spare.
PER_ROW = 0.004
POLL = 0.1
#: Long enough that one tick falls in the run.
EVERY = 3600


@dataclass
class Ticks:
    count: int
    tick: datetime
    created_seconds: float = 0.0
    #: Seconds from the tick to each run row's ``started_at``.
    started: list[float] = field(default_factory=list)
    #: Seconds from the tick until the poll saw every run row committed.
    all_visible: float = float("nan")
    #: Seconds from the tick to each run's saga completed.
    completed: list[float] = field(default_factory=list)
    cpu: Cpu | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        """Every schedule's run row within 5 s of the tick."""
        return len(self.started) == self.count and self.all_visible <= 5.0


def measure_schedules(
    count: int,
    engines: int,
    concurrency: int,
    log_dir: Path,
    broker_url: str,
    timeout: float,
    say: Callable[[str], None],
    profile: Path | None = None,
    profile_gil: bool = False,
) -> Ticks:
    run_id = uuid.uuid4().hex[:8]
    prefix = f"tb-{run_id}-"
    with Engines(engines, concurrency, log_dir, broker_url, "schedules") as running:
        lead = PER_ROW * count * 1.5 + 15.0
        tick = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
        tick += timedelta(seconds=1)
        result = Ticks(count, tick)
        say(f"making {count} schedules, all due at {tick:%H:%M:%S} ({lead:.0f} s ahead) ...")
        began = time.time()
        with transaction.atomic():
            for i in range(count):
                declared = schedule(
                    f"{prefix}{i}", TickSaga, every=EVERY, starts=tick, params={"run": run_id}
                )
                sync.create("default", declared)
        result.created_seconds = time.time() - began
        if time.time() >= tick.timestamp():
            result.notes.append(
                f"making the rows took {result.created_seconds:.0f} s and ended after the tick: "
                "the figures count from the tick all the same"
            )
        analyze()
        history = Saga.objects.count()
        if history < count:
            result.notes.append(
                f"the saga tables held {history} saga(s) at the tick: with autovacuum off, the "
                "engines plan their statements for near-empty tables and keep those plans as "
                "the tick's sagas fill them (run it after --sleepers or --burst)"
            )
        if profile is not None:
            running.profile(profile, profile_gil)
        say(f"  made in {result.created_seconds:.1f} s; waiting for {tick:%H:%M:%S} ...")
        time.sleep(max(tick.timestamp() - time.time(), 0.0))
        span = Span(running)
        result.all_visible = _wait_runs(prefix, tick, count, timeout, say)
        result.cpu = span.read()
        running.stop_profile()
        _wait_done(prefix, tick, count, timeout)
    _read_back(result, prefix)
    connections.close_all()
    return result


def _runs(prefix: str, tick: datetime) -> int:
    return ScheduleRun.objects.filter(schedule__name__startswith=prefix, tick=tick).count()


def _wait_runs(
    prefix: str, tick: datetime, count: int, timeout: float, say: Callable[[str], None]
) -> float:
    """Poll until every run row is there; seconds from the tick (NaN if it never was)."""
    last, changed, said = -1, time.monotonic(), time.monotonic()
    while True:
        runs = _runs(prefix, tick)
        seen = time.time()
        if runs != last:
            last, changed = runs, time.monotonic()
        if runs >= count:
            return seen - tick.timestamp()
        if time.monotonic() - changed > timeout:
            say(f"  no progress for {timeout:.0f} s: {runs}/{count} runs; giving up")
            return float("nan")
        if time.monotonic() - said > 5:
            said = time.monotonic()
            say(f"  {runs}/{count} runs started")
        time.sleep(POLL)


def _run_sagas(prefix: str, tick: datetime):  # type: ignore[no-untyped-def]
    ids = ScheduleRun.objects.filter(schedule__name__startswith=prefix, tick=tick).values("saga_id")
    return Saga.objects.filter(pk__in=ids)


def _wait_done(prefix: str, tick: datetime, count: int, timeout: float) -> None:
    last, changed = -1, time.monotonic()
    while True:
        done = _run_sagas(prefix, tick).filter(state="completed").count()
        if done != last:
            last, changed = done, time.monotonic()
        if done >= count or time.monotonic() - changed > timeout:
            return
        time.sleep(0.5)


def _read_back(result: Ticks, prefix: str) -> None:
    tick = result.tick
    result.started = [
        (at - tick).total_seconds()
        for at in ScheduleRun.objects.filter(
            schedule__name__startswith=prefix, tick=tick
        ).values_list("started_at", flat=True)
    ]
    result.completed = [
        (at - tick).total_seconds()
        for at in _run_sagas(prefix, tick)
        .filter(completed_at__isnull=False)
        .values_list("completed_at", flat=True)
    ]
    if len(result.started) < result.count:
        result.notes.append(f"only {len(result.started)} of {result.count} schedules ran")
