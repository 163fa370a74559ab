"""A burst of sleeps that all wake in the same second.

``--burst`` sagas of ``Sleep("nap", until=T)`` then one step, started while
the engines run; ``T`` is a whole second far enough ahead for all of them to
be asleep by then (from the pace the sleepers phase measured, else 10 ms a
saga, with half again and 20 s to spare). From ``T`` the benchmark watches
until every sleep step has completed, then reads back, per saga:

- the wake dispatched: the sleep step's ``executed_at`` (stamped by the
  engine when it took the wake message and completed the step), minus ``T``;
- the wake message published: its outbox row's ``sent_at`` (marked by the
  relay after the broker's confirm, at most ``MARK_SENT_EVERY`` later), minus ``T``;
- the saga done: its ``completed_at`` (the step after the sleep included), minus ``T``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.db import connections

from django_saga.models import SLEEP_ACTION, OutboxMessage, Saga, SagaStep

from .time_engines import Cpu, Engines, Span
from .time_sagas import burst_plan
from .time_starting import Started, analyze, start_sleeping

#: Seconds a saga takes to be asleep, when the sleepers phase did not measure it.
DEFAULT_PER_SAGA = 0.01
POLL = 0.2


@dataclass
class Burst:
    count: int
    wake: datetime
    started: Started | None = None
    #: Sleeps that had started before ``wake``.
    asleep_in_time: int = 0
    #: Seconds from ``wake`` to each sleep step's completion (the wake dispatched).
    woken: list[float] = field(default_factory=list)
    #: Seconds from ``wake`` to each wake message's outbox row marked sent.
    published: list[float] = field(default_factory=list)
    #: Seconds from ``wake`` to each saga's completion.
    completed: list[float] = field(default_factory=list)
    cpu: Cpu | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        """Every sleep of the burst dispatched within 10 s of its wake time."""
        return (
            self.asleep_in_time == self.count
            and len(self.woken) == self.count
            and max(self.woken) <= 10.0
        )


def measure_burst(
    count: int,
    engines: int,
    concurrency: int,
    per_saga: float | None,
    log_dir: Path,
    broker_url: str,
    timeout: float,
    say: Callable[[str], None],
    profile: Path | None = None,
    profile_gil: bool = False,
) -> Burst:
    lead = (per_saga or DEFAULT_PER_SAGA) * count * 1.5 + 20.0
    wake = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
    wake += timedelta(seconds=1)
    result = Burst(count, wake)
    run_id = uuid.uuid4().hex[:8]
    name = f"bench.burst.{run_id}"
    say(f"starting {count} sagas that all wake at {wake:%H:%M:%S} ({lead:.0f} s ahead) ...")
    with Engines(engines, concurrency, log_dir, broker_url, "burst") as running:
        result.started = start_sleeping(
            name,
            burst_plan(wake),
            {"run": run_id},
            count,
            timeout,
            say,
            deadline=wake.timestamp() - 0.5,
        )
        result.asleep_in_time = result.started.sleeping
        if result.asleep_in_time < count:
            result.notes.append(
                f"only {result.asleep_in_time} of {count} sleeps had started before the wake "
                "time: raise the lead (a slower machine than the sleepers phase measured)"
            )
        analyze()
        if profile is not None:
            running.profile(profile, profile_gil)
        say(f"  {result.asleep_in_time}/{count} asleep; waiting for {wake:%H:%M:%S} ...")
        time.sleep(max(wake.timestamp() - time.time(), 0.0))
        span = Span(running)
        _wait_woken(name, count, timeout, say)
        result.cpu = span.read()
        running.stop_profile()
        _wait_completed(name, count, timeout)
    _read_back(result, name)
    connections.close_all()
    return result


def _woken(name: str) -> int:
    return SagaStep.objects.filter(
        saga__name=name, action=SLEEP_ACTION, executed_at__isnull=False
    ).count()


def _wait_woken(name: str, count: int, timeout: float, say: Callable[[str], None]) -> None:
    last, changed, said = -1, time.monotonic(), time.monotonic()
    while True:
        woken = _woken(name)
        if woken != last:
            last, changed = woken, time.monotonic()
        if woken >= count:
            return
        if time.monotonic() - changed > timeout:
            say(f"  no progress for {timeout:.0f} s: {woken}/{count} woken; giving up")
            return
        if time.monotonic() - said > 5:
            said = time.monotonic()
            say(f"  {woken}/{count} woken")
        time.sleep(POLL)


def _wait_completed(name: str, count: int, timeout: float) -> None:
    last, changed = -1, time.monotonic()
    while True:
        done = Saga.objects.filter(name=name, state="completed").count()
        if done != last:
            last, changed = done, time.monotonic()
        if done >= count or time.monotonic() - changed > timeout:
            return
        time.sleep(POLL)


def _read_back(result: Burst, name: str) -> None:
    wake = result.wake
    sleeps = dict(
        SagaStep.objects.filter(saga__name=name, action=SLEEP_ACTION).values_list(
            "id", "executed_at"
        )
    )
    result.woken = [(at - wake).total_seconds() for at in sleeps.values() if at is not None]
    sent: dict[str, datetime] = {}
    rows = OutboxMessage.objects.filter(
        saga__name=name, sent_at__gte=wake - timedelta(seconds=1)
    ).values_list("body", "sent_at")
    for body, at in rows:
        step_id = json.loads(body)["step_id"]
        if step_id in sleeps and (step_id not in sent or at > sent[step_id]):
            sent[step_id] = at
    result.published = [(at - wake).total_seconds() for at in sent.values()]
    if len(sent) < len(result.woken):
        result.notes.append(
            f"{len(result.woken) - len(sent)} wake message(s) without a sent mark "
            "(the relay marks them sent after the engines stopped, or lost the mark)"
        )
    result.completed = [
        (at - wake).total_seconds()
        for at in Saga.objects.filter(name=name, completed_at__isnull=False).values_list(
            "completed_at", flat=True
        )
    ]
