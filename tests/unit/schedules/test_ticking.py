"""Starting the due schedules' runs (schedules/ticking.py), driven by the test
kit's clock: once per tick, the missed-tick and overlap policies, and what a
run carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_saga import manager, schedule
from django_saga.models import Saga, Schedule, ScheduleRun
from django_saga.models.saga import PRIORITIES
from django_saga.schedules.sync import create
from django_saga.schedules.ticking import run_key, tick_due
from tests.unit.stores.helpers import row_held

from .helpers import START, make, runs

pytestmark = pytest.mark.django_db


def test_an_hourly_schedule_advanced_one_day_starts_24_sagas_each_at_its_tick(kit):
    make(cron="0 * * * *")
    assert kit.next_due() == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    kit.advance(days=1)
    keys = runs()
    assert len(keys) == 24
    assert keys[0] == "report@2026-12-07T10:00:00Z"
    assert keys[-1] == "report@2026-12-08T09:00:00Z"
    # Each ran to the end at its own time: started at its tick, not at the end.
    first = ScheduleRun.objects.get(saga_id=Saga.objects.get(key=keys[0]).pk)
    assert Saga.objects.get(pk=first.saga_id).state == "completed"
    assert first.started_at == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_a_tick_runs_once_however_often_its_schedule_is_looked_at(kit):
    make(cron="0 * * * *")
    kit.clock.time = datetime(2026, 12, 7, 10, 0, 5, tzinfo=UTC)
    first = tick_due("default", manager)
    again = tick_due("default", manager)
    assert (first.started, again.started, again.schedules) == (1, 0, 0)
    assert runs() == ["report@2026-12-07T10:00:00Z"]
    assert Schedule.objects.get().next_run_at == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


def test_a_run_carries_its_schedule_and_tick_in_its_key_and_context(kit):
    make(cron="0 * * * *", params={"tag": "nightly"})
    kit.advance(hours=1)
    saga = Saga.objects.get()
    assert saga.key == run_key("report", datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    assert saga.context == {
        "tag": "nightly",
        "schedule": {"name": "report", "tick": "2026-12-07T10:00:00+00:00"},
    }
    assert saga.definition == "tests.testapp.sagas.Report"
    run = ScheduleRun.objects.get()
    assert (run.saga_id, run.tick, run.by) == (saga.pk, datetime(2026, 12, 7, 10, tzinfo=UTC), "")
    schedule = Schedule.objects.get()
    assert (schedule.last_saga_id, schedule.last_run_at) == (saga.pk, run.tick)


def outage(kit, hours: float) -> None:
    """Every engine is down: the clock moves on with nothing ticking."""
    kit.clock.time += timedelta(hours=hours)


def test_missed_ticks_latest_runs_only_the_latest_once(kit):
    make(cron="0 * * * *", missed="latest")
    outage(kit, 5)  # 10:00 .. 14:00 passed
    kit.run()
    assert runs() == ["report@2026-12-07T14:00:00Z"]
    schedule = Schedule.objects.get()
    assert schedule.skipped == 4
    assert schedule.next_run_at == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def test_missed_ticks_each_runs_every_one_up_to_the_limit_latest_first_kept(kit):
    make(cron="0 * * * *", missed="each", missed_limit=3, overlap="allow")
    outage(kit, 5)
    kit.run()
    assert runs() == [
        "report@2026-12-07T12:00:00Z",
        "report@2026-12-07T13:00:00Z",
        "report@2026-12-07T14:00:00Z",
    ]
    assert Schedule.objects.get().skipped == 2


def test_missed_ticks_each_under_overlap_wait_run_one_after_another(kit):
    make(cron="0 * * * *", missed="each", missed_limit=3, overlap="wait")
    outage(kit, 5)
    first = tick_due("default", manager)
    assert (first.started, first.skipped) == (1, 2)  # 12:00 now; 13:00 and 14:00 wait
    assert Schedule.objects.get().next_run_at == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    kit.run()  # each run completes, and the next starts
    assert runs() == [
        "report@2026-12-07T12:00:00Z",
        "report@2026-12-07T13:00:00Z",
        "report@2026-12-07T14:00:00Z",
    ]


def test_missed_ticks_under_overlap_skip_start_only_the_newest(kit):
    make(cron="0 * * * *", missed="each", missed_limit=3, overlap="skip")
    outage(kit, 5)
    kit.run()
    assert runs() == ["report@2026-12-07T14:00:00Z"]
    assert Schedule.objects.get().skipped == 4


def test_ticks_late_by_less_than_the_grace_all_run_whatever_the_policy(kit):
    make(every=1, missed="latest", overlap="allow")
    kit.clock.time = START + timedelta(seconds=5)  # the engines were slow, not down
    kit.run()
    assert len(runs()) == 6  # 09:30:00 to 09:30:05
    assert Schedule.objects.get().skipped == 0


def test_missed_ticks_skip_runs_none_found_late_but_runs_one_found_in_time(kit, settings):
    settings.SAGA = {**settings.SAGA, "SCHEDULE_LATE_AFTER": 60}
    make(cron="0 * * * *", missed="skip")
    outage(kit, 5)
    kit.run()
    assert runs() == []
    assert Schedule.objects.get().skipped == 5
    kit.clock.time = datetime(2026, 12, 7, 15, 0, 59, tzinfo=UTC)
    kit.run()
    assert runs() == ["report@2026-12-07T15:00:00Z"]


def test_overlap_skip_skips_ticks_while_the_previous_run_is_active(kit):
    make(cron="0 * * * *", overlap="skip", params={"action": "test.pending"})
    kit.advance(hours=2)  # 10:00 runs and waits; 11:00 finds it active
    assert runs() == ["report@2026-12-07T10:00:00Z"]
    assert Schedule.objects.get().skipped == 1
    kit.complete_step(("report", "report@2026-12-07T10:00:00Z"), "count", {})
    kit.advance(hours=1)
    assert runs() == ["report@2026-12-07T10:00:00Z", "report@2026-12-07T12:00:00Z"]


def test_overlap_allow_starts_anyway(kit):
    make(cron="0 * * * *", overlap="allow", params={"action": "test.pending"})
    kit.advance(hours=3)
    assert len(runs()) == 3
    assert Saga.objects.filter(state="started").count() == 3


def test_overlap_wait_holds_the_tick_until_the_previous_run_ends(kit):
    make(cron="0 * * * *", overlap="wait", params={"action": "test.pending"})
    kit.advance(hours=1, minutes=15)  # 10:00 runs; 11:00 has not come
    kit.clock.time = datetime(2026, 12, 7, 11, 0, 30, tzinfo=UTC)
    kit.run()
    assert runs() == ["report@2026-12-07T10:00:00Z"]
    schedule = Schedule.objects.get()
    assert schedule.next_run_at == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)  # held, still due
    kit.clock.time = datetime(2026, 12, 7, 11, 20, tzinfo=UTC)
    kit.complete_step(("report", "report@2026-12-07T10:00:00Z"), "count", {})
    assert runs() == ["report@2026-12-07T10:00:00Z", "report@2026-12-07T11:00:00Z"]
    held = ScheduleRun.objects.get(tick=datetime(2026, 12, 7, 11, 0, tzinfo=UTC))
    assert held.started_at == datetime(2026, 12, 7, 11, 20, tzinfo=UTC)


def test_a_run_that_cannot_start_is_counted_failed_and_the_next_tick_tries_again(kit):
    make(cron="0 * * * *", params={"action": "no.such_action"})
    kit.advance(hours=1)
    schedule = Schedule.objects.get()
    assert runs() == []
    assert "no.such_action" in schedule.error
    assert schedule.next_run_at == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


def test_a_paused_schedule_does_not_tick(kit):
    make(cron="0 * * * *")
    Schedule.objects.update(enabled=False)
    kit.advance(hours=3)
    assert runs() == []
    assert kit.next_due() is None


def test_an_ended_schedule_stops(kit):
    make(cron="0 * * * *", ends=datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    kit.advance(days=1)
    assert len(runs()) == 3
    assert Schedule.objects.get().next_run_at is None


def test_a_tick_already_run_is_not_run_again_by_a_schedule_made_again(kit):
    make(cron="0 * * * *")
    kit.advance(hours=1)
    # Its row is lost and made again with an older next run (a restore, say).
    schedule = Schedule.objects.get()
    schedule.next_run_at = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    schedule.save()
    kit.run()
    assert runs() == ["report@2026-12-07T10:00:00Z"]
    assert ScheduleRun.objects.count() == 1


def test_a_daily_schedule_in_berlin_follows_the_clocks_into_summer_time(kit):
    # Berlin skips 02:00-03:00 on 29 March 2026: the 02:30 run comes at 03:00.
    kit.clock.time = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    make(cron="30 2 * * *", timezone="Europe/Berlin")
    kit.advance(days=3)
    assert runs() == [
        "report@2026-03-28T01:30:00Z",  # 02:30 CET
        "report@2026-03-29T01:00:00Z",  # 03:00 CEST, just after the change
        "report@2026-03-30T00:30:00Z",  # 02:30 CEST
    ]


def test_a_daily_schedule_in_berlin_runs_once_in_the_repeated_hour(kit):
    # Berlin repeats 02:00-03:00 on 25 October 2026.
    kit.clock.time = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    make(cron="30 2 * * *", timezone="Europe/Berlin")
    kit.advance(days=2)
    assert runs() == ["report@2026-10-25T00:30:00Z", "report@2026-10-26T01:30:00Z"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_schedule_another_engine_holds_is_skipped_not_waited_for_nor_run_twice(kit):
    schedule = make(cron="0 * * * *")
    kit.clock.time = datetime(2026, 12, 7, 10, 0, 1, tzinfo=UTC)
    with row_held(Schedule, schedule.pk):
        # Another engine is starting this tick: this one takes nothing and moves on.
        assert tick_due("default", manager).schedules == 0
    assert tick_due("default", manager).started == 1
    assert tick_due("default", manager).started == 0
    assert runs() == ["report@2026-12-07T10:00:00Z"]


def test_a_definition_whose_code_fails_is_counted_failed_and_the_ticker_goes_on(kit):
    create("default", schedule("broken", "tests.testapp.sagas.Broken", cron="0 * * * *"))
    make(cron="0 * * * *")
    kit.advance(hours=1)
    broken = Schedule.objects.get(name="broken")
    assert broken.error == "KeyError: 'warehouse'"
    assert broken.next_run_at == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    assert runs() == ["report@2026-12-07T10:00:00Z"]  # the other schedule ran


def test_a_tick_already_run_leaves_the_other_runs_of_its_batch_to_start(kit):
    make("first", cron="0 * * * *")
    kit.advance(hours=1)
    # Its row is made again with an older next run, due beside a new schedule:
    # the batch cannot start together, and each alone says which tick ran.
    make("second", cron="0 * * * *")
    Schedule.objects.update(next_run_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    report = tick_due("default", manager)
    assert (report.started, report.skipped) == (1, 1)
    assert runs("first") == ["first@2026-12-07T10:00:00Z"]
    assert runs("second") == ["second@2026-12-07T10:00:00Z"]
    assert Schedule.objects.get(name="first").skipped == 1


@pytest.mark.postgres
def test_the_runs_of_a_tick_start_in_statements_that_do_not_grow_with_them(kit):
    def statements(count: int, prefix: str) -> int:
        tick = kit.clock.now() + timedelta(hours=1)
        for n in range(count):
            make(f"{prefix}-{n}", every=86400, starts=tick)
        kit.clock.time = tick
        with CaptureQueriesContext(connection) as queries:
            report = tick_due("default", manager)
        assert report.started == count
        return len(queries)

    assert statements(30, "many") == statements(3, "few")


def test_a_schedule_s_priority_is_its_sagas_and_without_one_the_definition_s(kit):
    make("urgent", cron="0 * * * *", priority="high")
    make("plain", cron="0 * * * *")
    kit.advance(hours=1)  # both tick at once: started together
    by_schedule = dict(Saga.objects.values_list("key", "priority"))
    assert by_schedule == {
        "urgent@2026-12-07T10:00:00Z": PRIORITIES["high"],
        "plain@2026-12-07T10:00:00Z": PRIORITIES["normal"],
    }
    now = manager.run_schedule("urgent", by="ada", reason="needed now")  # started alone
    assert now.priority == PRIORITIES["high"]
