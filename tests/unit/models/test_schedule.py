"""The schedule rows: a cron or an interval, never both; one run per tick."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from django_saga.models import Schedule, ScheduleIntervention, ScheduleRun

pytestmark = pytest.mark.django_db

TICK = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def a_schedule(**fields):
    fields.setdefault("every", 60)
    return Schedule.objects.create(name="nightly", definition="x.Y", **fields)


@pytest.mark.parametrize("fields", [{"cron": "", "every": None}, {"cron": "0 2 * * *"}])
def test_a_schedule_has_a_cron_or_an_interval_not_both_nor_neither(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        a_schedule(**fields)


def test_a_tick_has_one_run_but_an_operators_run_now_may_share_its_time():
    schedule = a_schedule()
    ScheduleRun.objects.create(schedule=schedule, tick=TICK, saga_id="A" * 26)
    ScheduleRun.objects.create(schedule=schedule, tick=TICK, saga_id="B" * 26, by="ada")
    with pytest.raises(IntegrityError), transaction.atomic():
        ScheduleRun.objects.create(schedule=schedule, tick=TICK, saga_id="C" * 26)


def test_rows_say_what_they_are():
    schedule = a_schedule()
    run = ScheduleRun.objects.create(schedule=schedule, tick=TICK, saga_id="A" * 26)
    change = ScheduleIntervention(schedule="nightly", action="pause", actor="ada")
    assert str(schedule) == "nightly"
    assert str(run) == f"{schedule.pk} at 2026-12-07T02:00:00+00:00"
    assert str(change) == "pause of schedule nightly by ada"
