"""Retention of what schedules leave (django_saga/retention.py): a run row
goes with its saga's age once its saga is gone; a schedule's trail after
AUDIT_RETENTION."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_saga.models import ScheduleIntervention, ScheduleRun
from django_saga.retention import purge
from tests.factories import SagaFactory
from tests.unit.schedules.helpers import make

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def a_run(schedule, saga_id: str, ago: timedelta) -> ScheduleRun:
    when = timezone.now() - ago
    return ScheduleRun.objects.create(
        schedule=schedule, tick=when, saga_id=saga_id, started_at=when
    )


def test_old_runs_whose_sagas_are_gone_are_purged_and_the_others_kept():
    schedule = make(cron="0 * * * *")
    gone_long_ago = a_run(schedule, "01GONE0000000000000000000A", 40 * DAY)
    gone_lately = a_run(schedule, "01GONE0000000000000000000B", 10 * DAY)
    kept_saga = SagaFactory(state="failed")
    of_a_saga_kept = a_run(schedule, kept_saga.pk, 40 * DAY)
    assert purge(30 * DAY, dry_run=True).runs == 1
    assert purge(30 * DAY).runs == 1
    left = set(ScheduleRun.objects.values_list("pk", flat=True))
    assert left == {gone_lately.pk, of_a_saga_kept.pk}
    assert gone_long_ago.pk not in left


def test_a_schedules_trail_goes_after_audit_retention(settings):
    settings.SAGA = {**settings.SAGA, "AUDIT_RETENTION": 365 * 24 * 3600}
    old = ScheduleIntervention.objects.create(
        schedule="nightly", action="pause", actor="ada", at=timezone.now() - 400 * DAY
    )
    young = ScheduleIntervention.objects.create(
        schedule="nightly", action="resume", actor="ada", at=timezone.now() - 100 * DAY
    )
    assert purge(30 * DAY).trail == 1
    assert list(ScheduleIntervention.objects.values_list("pk", flat=True)) == [young.pk]
    assert not ScheduleIntervention.objects.filter(pk=old.pk).exists()
