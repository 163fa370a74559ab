"""django_saga.console.schedules: schedules as the console shows them (when
in words, the next ticks, the last run and how its saga stands) and the
operator's three actions on one, declared once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_saga import manager
from django_saga.console.schedules import (
    PAUSE_ACT,
    RESUME_ACT,
    RUN_ACT,
    SCHEDULE_ACTS,
    TRAIL_LABELS,
    latest_runs,
    latest_trail,
    local_time,
    saga_states,
    schedule_rows,
    upcoming,
    zone_of,
)
from django_saga.models import Saga, Schedule
from tests.unit.console.helpers import PAUSE_SCHEDULE, TRIGGER_SCHEDULE
from tests.unit.schedules.helpers import START, make

pytestmark = pytest.mark.django_db

BERLIN_NIGHTLY = {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}


# -- the actions' table ---------------------------------------------------------------------------
def test_each_action_names_its_permission_its_manager_method_and_when_it_applies(kit):
    schedule = make(cron="0 * * * *")
    assert [act.slug for act in SCHEDULE_ACTS] == ["pause", "resume", "run"]
    assert {act.permission for act in (PAUSE_ACT, RESUME_ACT)} == {PAUSE_SCHEDULE}
    assert RUN_ACT.permission == TRIGGER_SCHEDULE
    assert [act.applies(schedule) for act in SCHEDULE_ACTS] == [True, False, True]
    schedule.enabled = False
    assert [act.applies(schedule) for act in SCHEDULE_ACTS] == [False, True, True]
    assert TRAIL_LABELS == {"pause": "paused", "resume": "resumed", "run_now": "ran now"}


def test_an_action_runs_through_the_manager_and_says_what_it_did(kit):
    make(**BERLIN_NIGHTLY)
    paused = PAUSE_ACT.run("report", by="ada", reason="warehouse closed")
    assert PAUSE_ACT.said(paused) == "Schedule report paused: it does not tick until resumed."
    resumed = RESUME_ACT.run("report", by="ada", reason="open again")
    assert RESUME_ACT.said(resumed) == (
        "Schedule report resumed: its next run is at 2026-12-08 02:00:00 CET."
    )
    saga = RUN_ACT.run("report", by="ada", reason="needed now")
    assert RUN_ACT.said(saga) == f"Started saga {saga.pk}."
    trail = manager.schedule_interventions("report")
    assert [(t.action, t.actor) for t in trail] == [
        ("pause", "ada"),
        ("resume", "ada"),
        ("run_now", "ada"),
    ]


# -- times ----------------------------------------------------------------------------------------
def test_times_are_shown_in_the_schedules_zone_or_utc_for_one_that_does_not_exist():
    assert local_time(START, zone_of(Schedule(timezone="Europe/Berlin"))) == (
        "2026-12-07 10:30:00 CET"
    )
    assert local_time(START, zone_of(Schedule(timezone="Mars/Olympus"))) == (
        "2026-12-07 09:30:00 UTC"
    )
    assert local_time(None, UTC) == "—"


def test_the_next_ticks_follow_the_next_run_or_once_paused_what_a_resume_would_run(kit):
    schedule = make(**BERLIN_NIGHTLY)
    ticks = upcoming(schedule, START)
    assert len(ticks) == 5
    assert ticks[0] == schedule.next_run_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    assert ticks[1:3] == [
        datetime(2026, 12, 9, 1, tzinfo=UTC),
        datetime(2026, 12, 10, 1, tzinfo=UTC),
    ]
    # Paused: what it would run if resumed later that week.
    schedule.enabled = False
    later = START + timedelta(days=3)
    assert upcoming(schedule, later, count=2) == [
        datetime(2026, 12, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 12, 1, tzinfo=UTC),
    ]


def test_a_schedule_that_ends_or_cannot_be_read_has_no_more_ticks_than_it_will_run(kit):
    # An interval's first tick is when it was made.
    ending = make(every=3600, ends=START + timedelta(hours=2, minutes=30))
    assert upcoming(ending, START) == [
        START,
        START + timedelta(hours=1),
        START + timedelta(hours=2),
    ]
    ending.next_run_at = None  # it has ended
    assert upcoming(ending, START) == []
    broken = Schedule(name="broken", cron="0 * * * *", timezone="Mars/Olympus", created_at=START)
    broken.next_run_at = START
    assert upcoming(broken, START) == []


# -- rows -----------------------------------------------------------------------------------------
def test_a_row_says_when_in_words_the_next_run_and_how_the_last_runs_saga_stands(kit):
    make("nightly", **BERLIN_NIGHTLY, params={"action": "test.pending"})
    make("hourly", every=3600)
    kit.advance(hours=1)  # hourly runs at 10:30; its saga completes
    saga = manager.run_schedule("nightly", by="ada", reason="needed now")
    kit.run()
    rows = {
        row.schedule.name: row for row in schedule_rows(Schedule.objects.all(), kit.clock.now())
    }
    nightly, hourly = rows["nightly"], rows["hourly"]
    assert nightly.when == "At 02:00 every day, Europe/Berlin"
    assert (nightly.next_run, nightly.next_in) == ("2026-12-08 02:00:00 CET", "in 14\xa0hours")
    assert (nightly.saga_state, nightly.saga_state_label) == ("started", "started")
    assert nightly.schedule.last_saga_id == saga.pk
    assert hourly.when == "every hour"
    assert hourly.saga_state == "completed"
    assert hourly.last_run == "2026-12-07 10:30:00 UTC"
    assert hourly.next_in == "in 1\xa0hour"


def test_a_run_whose_saga_was_purged_says_so(kit):
    make(every=3600)
    kit.advance(hours=1)
    Saga.objects.all().delete()
    (row,) = schedule_rows(Schedule.objects.all(), kit.clock.now())
    assert (row.saga_state, row.saga_state_label) == (None, "purged")
    runs = latest_runs(Schedule.objects.get())
    assert [(run.saga_state, run.saga_state_label) for run in runs] == [(None, "purged")] * 2


def test_the_latest_runs_come_newest_first_with_their_sagas_states(kit):
    schedule = make(every=3600)
    kit.advance(hours=3)
    runs = latest_runs(schedule, limit=2)
    assert [row.tick for row in runs] == ["2026-12-07 12:30:00 UTC", "2026-12-07 11:30:00 UTC"]
    assert {row.saga_state for row in runs} == {"completed"}
    assert [row.run.by for row in runs] == ["", ""]


def test_the_trail_is_the_latest_entries_oldest_first_and_says_when_it_was_cut(kit):
    schedule = make(every=3600)
    for n in range(3):
        manager.pause_schedule("report", by="ada", reason=f"hold {n}")
        manager.resume_schedule("report", by="ada", reason=f"go {n}")
    entries, cut = latest_trail(schedule, limit=4)
    assert [e.reason for e in entries] == ["hold 1", "go 1", "hold 2", "go 2"]
    assert cut is True
    assert latest_trail(schedule)[1] is False


def test_the_states_of_no_saga_cost_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert saga_states(["", ""]) == {}
