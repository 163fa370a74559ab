"""The engine's ticker thread (schedules/ticker.py): it starts a due run
within moments of its tick, and waits no longer than a poll."""

from __future__ import annotations

import time

import pytest
from django.db import DatabaseError, connections

from django_saga import manager
from django_saga.models import Schedule, ScheduleRun
from django_saga.schedules import ticker as ticker_module
from django_saga.schedules.ticker import POLL, Ticker
from tests.unit.stores.helpers import row_held

from .helpers import make

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_ticker_starts_each_tick_of_a_schedule_every_second_soon_after_it():
    # An operator's schedule (the ticker's sync leaves it be); no engine runs
    # its sagas, so each stays active.
    Schedule.objects.filter(pk=make(every=1, overlap="allow").pk).update(source="operator")
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


def test_a_tick_waiting_for_its_previous_run_is_looked_at_once_a_poll_not_in_a_loop():
    make(every=1, overlap="wait", params={"action": "test.pending"})
    ticker = Ticker("default", manager)
    try:
        time.sleep(1.1)
        ticker.look()  # starts the first run, which waits for ever
        assert ScheduleRun.objects.count() == 1
        time.sleep(1.1)
        # The next tick is due but waits: the ticker does not spin on it.
        assert ticker.look() == POLL
        assert ScheduleRun.objects.count() == 1
    finally:
        connections.close_all()


@pytest.mark.postgres
def test_a_due_schedule_another_engine_holds_is_looked_at_again_after_a_poll():
    schedule = make(every=1, overlap="allow")
    ticker = Ticker("default", manager)
    time.sleep(1.1)
    try:
        with row_held(Schedule, schedule.pk):
            assert ticker.look() == POLL
        assert ScheduleRun.objects.count() == 0
        ticker.look()
        assert ScheduleRun.objects.count() >= 1
    finally:
        connections.close_all()


def test_a_ticker_makes_codes_rows_on_its_own_thread_before_it_begins(kit):
    ticker = Ticker("default", manager)
    report = ticker.begin()
    try:
        assert ticker.is_alive()
        # The example shop declares its nightly report in sagas.py: begin made its row.
        assert report.created == ["nightly-stock-report"]
        assert Schedule.objects.get(name="nightly-stock-report").source == "code"
    finally:
        ticker.stop()
        ticker.join(5)


def test_rows_the_database_refuses_stop_the_ticker_at_begin(monkeypatch):
    def refuse(using):
        raise DatabaseError("the schedules table is missing")

    monkeypatch.setattr(ticker_module, "sync", refuse)
    ticker = Ticker("default", manager)
    with pytest.raises(DatabaseError, match="schedules table is missing"):
        ticker.begin()
    assert not ticker.is_alive()


@pytest.mark.postgres
def test_a_stopped_ticker_leaves_no_connection_of_its_own_open():
    def backends() -> int:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return cursor.fetchone()[0]

    before = backends()
    ticker = Ticker("default", manager)
    ticker.begin()
    ticker.look()
    ticker.stop()
    ticker.join(5)
    assert backends() == before
