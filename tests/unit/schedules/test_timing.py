"""When a schedule ticks: cron in a time zone (daylight saving time included),
intervals, start and end, and the due ticks after an outage."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from django_saga.errors import SagaDefinitionError
from django_saga.schedules.timing import MAX_TICKS_COUNTED, Timing

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def ticks(timing: Timing, start: datetime, count: int) -> list[datetime]:
    found, moment = [], start
    for _ in range(count):
        moment = timing.first_after(moment)
        found.append(moment)
    return found


def test_a_daily_cron_runs_at_its_local_time_in_summer_and_in_winter():
    daily = Timing(cron="0 2 * * *", timezone="Europe/Berlin")
    summer = daily.first_after(datetime(2026, 6, 30, 12, tzinfo=UTC))
    winter = daily.first_after(datetime(2026, 12, 1, tzinfo=UTC))
    assert summer == datetime(2026, 7, 1, 0, 0, tzinfo=UTC)  # 02:00 CEST
    assert winter == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 02:00 CET
    assert summer.astimezone(BERLIN).hour == winter.astimezone(BERLIN).hour == 2


def test_a_tick_in_the_hour_the_clocks_skip_runs_when_they_have_moved_on():
    # Berlin skips 02:00-03:00 on 29 March 2026.
    daily = Timing(cron="30 2 * * *", timezone="Europe/Berlin")
    local = [t.astimezone(BERLIN) for t in ticks(daily, datetime(2026, 3, 27, tzinfo=UTC), 3)]
    assert [(t.day, t.hour, t.minute) for t in local] == [(27, 2, 30), (28, 2, 30), (29, 3, 0)]


def test_a_fixed_tick_in_the_hour_the_clocks_repeat_runs_once():
    # Berlin repeats 02:00-03:00 on 25 October 2026.
    daily = Timing(cron="30 2 * * *", timezone="Europe/Berlin")
    found = ticks(daily, datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert found == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST, the first copy
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # the next day, 02:30 CET
    ]


def test_a_wildcard_hour_keeps_its_rhythm_through_both_copies_of_the_repeated_hour():
    half_hourly = Timing(cron="*/30 * * * *", timezone="Europe/Berlin")
    found = ticks(half_hourly, datetime(2026, 10, 24, 23, 0, tzinfo=UTC), 5)
    # Every 30 minutes of real time: 01:30, 02:00, 02:30 CEST, 02:00, 02:30 CET.
    assert [b - a for a, b in itertools.pairwise(found)] == [timedelta(minutes=30)] * 4


def test_new_york_moves_its_clocks_on_other_days():
    daily = Timing(cron="30 2 * * *", timezone="America/New_York")
    local = [t.astimezone(NEW_YORK) for t in ticks(daily, datetime(2026, 3, 7, 12, tzinfo=UTC), 2)]
    assert [(t.day, t.hour, t.minute) for t in local] == [(8, 3, 0), (9, 2, 30)]


def test_an_interval_counts_real_seconds_from_its_anchor_whatever_the_clocks_do():
    anchor = datetime(2026, 10, 25, 0, 15, tzinfo=UTC)
    hourly = Timing(every=3600, timezone="Europe/Berlin", anchor=anchor)
    found = ticks(hourly, datetime(2026, 10, 25, 0, 20, tzinfo=UTC), 3)
    assert found == [anchor + timedelta(hours=n) for n in (1, 2, 3)]


def test_first_from_includes_a_tick_at_that_very_moment():
    minute = Timing(cron="* * * * *")
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert minute.first_from(at) == at
    assert minute.first_after(at) == at + timedelta(minutes=1)


def test_no_tick_before_the_start_nor_after_the_end():
    starts = datetime(2026, 1, 10, 0, 0, tzinfo=UTC)
    ends = datetime(2026, 1, 12, 0, 0, tzinfo=UTC)
    daily = Timing(cron="0 0 * * *", starts=starts, ends=ends)
    assert daily.first_from(datetime(2026, 1, 1, tzinfo=UTC)) == starts
    assert daily.first_after(ends) is None
    assert ticks(daily, datetime(2026, 1, 1, tzinfo=UTC), 2)[-1] == starts + timedelta(days=1)


def test_due_after_an_outage_keeps_the_latest_and_counts_them_all():
    hourly = Timing(cron="0 * * * *")
    first = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    now = datetime(2026, 1, 1, 5, 30, tzinfo=UTC)
    due, following = hourly.due(first, now, keep=2)
    assert due.count == 6
    assert due.ticks == (first + timedelta(hours=4), first + timedelta(hours=5))
    assert due.missed == 4
    assert following == first + timedelta(hours=6)


def test_an_intervals_due_ticks_are_worked_out_without_a_walk():
    every_second = Timing(every=1, anchor=datetime(2026, 1, 1, tzinfo=UTC))
    first = datetime(2026, 1, 1, tzinfo=UTC)
    now = first + timedelta(days=400, microseconds=500)
    due, following = every_second.due(first, now, keep=3)
    assert due.count == 400 * 86400 + 1
    assert due.ticks[-1] == first + timedelta(days=400)
    assert following == first + timedelta(days=400, seconds=1)


def test_a_cron_gap_past_the_counting_limit_stops_counting_and_goes_on_from_now():
    minute = Timing(cron="* * * * *")
    first = datetime(2026, 1, 1, tzinfo=UTC)
    now = first + timedelta(minutes=MAX_TICKS_COUNTED + 500, seconds=30)
    due, following = minute.due(first, now, keep=1)
    assert due.count == MAX_TICKS_COUNTED
    assert following == now.replace(second=0) + timedelta(minutes=1)


def test_an_ended_schedule_has_no_next_tick_after_its_last_due_one():
    ends = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    hourly = Timing(every=3600, anchor=datetime(2026, 1, 1, tzinfo=UTC), ends=ends)
    due, following = hourly.due(datetime(2026, 1, 1, tzinfo=UTC), ends + timedelta(hours=5), 10)
    assert due.count == 4
    assert following is None


def test_describe_says_when_in_words():
    assert Timing(cron="0 2 * * *", timezone="Europe/Berlin").describe() == (
        "At 02:00 every day, Europe/Berlin"
    )
    assert Timing(every=3600).describe() == "every hour"
    assert Timing(every=90).describe() == "every 90 seconds"
    assert Timing(every=120).describe() == "every 2 minutes"


@pytest.mark.parametrize(
    ("timing", "says"),
    [
        (Timing(cron="61 * * * *"), "bad cron expression '61 * * * *'"),
        (Timing(cron="* * *"), "bad cron expression"),
        (Timing(cron="0 2 * * *", timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (Timing(), "takes a cron expression or an interval"),
        (Timing(cron="* * * * *", every=60), "takes a cron expression or an interval"),
        (Timing(every=0), "every must be a whole number of seconds"),
        (Timing(every=1.5), "every must be a whole number of seconds"),  # type: ignore[arg-type]
        (Timing(every=60, starts=datetime(2026, 1, 1)), "starts must be a timezone-aware"),
        (
            Timing(
                every=60,
                starts=datetime(2026, 1, 2, tzinfo=UTC),
                ends=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            "ends before it starts",
        ),
    ],
)
def test_check_names_what_is_wrong(timing, says):
    with pytest.raises(SagaDefinitionError, match=r"^schedule 'nightly' ") as refused:
        timing.check("schedule 'nightly'")
    assert says in str(refused.value)
