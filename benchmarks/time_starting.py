"""Starting many sleeping sagas fast, and waiting until every one sleeps.

Sagas are started through ``manager.start()``, ``batch`` to a transaction
(one commit, one wake-up of the relay per batch), while engines run: each
saga's sleep step starts when an engine takes its first message, which
sets the step's ``timeout_at`` and writes its next message to the outbox,
due when it wakes. A saga counts as sleeping once its sleep step has a
``timeout_at``: exactly what the flow writes when a sleep starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from django_saga import Step, manager
from django_saga.models import SLEEP_ACTION, OutboxMessage, SagaStep

#: Starts per transaction.
BATCH = 500
#: Seconds between two looks at how many sleep.
POLL = 1.0


@dataclass
class Started:
    """How starting went: sagas started, how long starting took, and until all slept."""

    sagas: int
    start_seconds: float
    #: From the first start() until every sleep step had started sleeping.
    sleeping_seconds: float
    sleeping: int

    @property
    def per_saga(self) -> float:
        return self.sleeping_seconds / max(self.sagas, 1)


def start_sleeping(
    name: str,
    plan: Sequence[Step],
    context: dict,
    count: int,
    timeout: float,
    say: Callable[[str], None],
    deadline: float | None = None,
) -> Started:
    """Start ``count`` sagas of ``plan`` and wait until every sleep has started
    (or ``timeout`` seconds pass without progress, or the wall-clock time
    ``deadline``). Prints progress every tenth."""
    began = time.time()
    next_say = count // 10 or 1
    for first in range(0, count, BATCH):
        with transaction.atomic():
            for _ in range(min(BATCH, count - first)):
                manager.start(name, plan, context)
        done = first + min(BATCH, count - first)
        if done >= next_say:
            say(f"  started {done}/{count} ({time.time() - began:.0f} s)")
            next_say += count // 10 or 1
    started = time.time() - began
    sleeping = wait_sleeping(name, count, timeout, say, deadline)
    return Started(count, started, time.time() - began, sleeping)


def sleeping_count(name: str) -> int:
    """Sagas of ``name`` whose sleep step has started sleeping (or has woken)."""
    return (
        SagaStep.objects.filter(saga__name=name, action=SLEEP_ACTION)
        .filter(Q(timeout_at__isnull=False) | Q(executed_at__isnull=False))
        .count()
    )


def wait_sleeping(
    name: str,
    count: int,
    timeout: float,
    say: Callable[[str], None],
    deadline: float | None = None,
) -> int:
    """Poll until ``count`` sleeps started; how many did."""
    last, changed = -1, time.monotonic()
    said = 0.0
    while True:
        sleeping = sleeping_count(name)
        if sleeping != last:
            last, changed = sleeping, time.monotonic()
        if sleeping >= count:
            return sleeping
        if time.monotonic() - changed > timeout:
            say(f"  no progress for {timeout:.0f} s: {sleeping}/{count} sleeping; giving up")
            return sleeping
        if deadline is not None and time.time() >= deadline:
            say(f"  {sleeping}/{count} sleeping when the wait had to end")
            return sleeping
        if time.monotonic() - said > 15:
            said = time.monotonic()
            say(f"  {sleeping}/{count} sleeping")
        time.sleep(POLL)


def analyze() -> None:
    """Fresh planner statistics, as autovacuum gives them after a bulk load.

    Where autovacuum is off (see the machine line), the tables keep the
    statistics of when they were empty, and a statement an engine prepared
    then keeps a plan made for an empty table: ``ANALYZE`` also makes every
    session plan its prepared statements again.
    """
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def delayed_outbox(later_than: timedelta) -> int:
    """Unsent outbox rows due more than ``later_than`` from now: the sleepers' wake messages."""
    return OutboxMessage.objects.filter(
        sent_at__isnull=True, available_at__gt=timezone.now() + later_than
    ).count()
