"""The engine's ticker thread (schedules/ticker.py): it starts a due run
within moments of its tick, and waits no longer than a poll."""

from __future__ import annotations

import time

import pytest
from django.db import connections

from django_saga import manager
from django_saga.models import ScheduleRun
from django_saga.schedules import ticker as ticker_module
from django_saga.schedules.ticker import POLL, Ticker

from .helpers import make

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_ticker_starts_each_tick_of_a_schedule_every_second_soon_after_it():
    make(every=1, overlap="allow")  # no engine runs them: each stays active
    ticker = Ticker("default", manager)
    ticker.start()
    try:
        deadline = time.monotonic() + 10
        while ScheduleRun.objects.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        ticker.stop()
        ticker.join(5)
        connections.close_all()
    found = list(ScheduleRun.objects.order_by("tick"))
    assert len(found) >= 3
    ticks = [run.tick for run in found]
    assert len(set(ticks)) == len(ticks)
    assert all(tick.microsecond == 0 for tick in ticks)
    # Started soon after its time (a shared machine: within a second).
    assert all((run.started_at - run.tick).total_seconds() < 1.0 for run in found)


def test_a_ticker_with_nothing_due_looks_again_within_a_poll():
    ticker = Ticker("default", manager)
    assert ticker.look() == POLL
    make(every=3600)
    assert 0 < ticker.look() <= POLL
    assert ticker_module.POLL == POLL
