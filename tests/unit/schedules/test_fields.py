"""A schedule as JSON (schedules/fields.py): what the command line and the
JSON API both show of it, its timing in words beside its cron or interval."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from django_saga.models import Schedule
from django_saga.schedules.fields import schedule_fields

from .helpers import make

pytestmark = pytest.mark.django_db


def test_a_cron_schedule_shows_its_timing_in_words_and_its_last_run(kit):
    make(cron="0 2 * * *", timezone="Europe/Berlin")
    kit.advance(days=1)
    fields = schedule_fields(Schedule.objects.get())
    assert fields["when"] == "At 02:00 every day, Europe/Berlin"
    assert (fields["cron"], fields["every"]) == ("0 2 * * *", None)
    assert fields["last_run_at"] == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    assert fields["last_saga_id"]
    assert fields["enabled"] is True and fields["source"] == "code"
    json.dumps(fields, cls=DjangoJSONEncoder)  # what --json prints


def test_an_interval_has_no_cron_and_a_paused_one_says_so(kit):
    schedule = make(every=3600)
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
    fields = schedule_fields(Schedule.objects.get())
    assert (fields["cron"], fields["every"]) == ("", 3600)
    assert fields["enabled"] is False
    assert fields["last_saga_id"] == "" and fields["last_run_at"] is None
