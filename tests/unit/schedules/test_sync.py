"""Code's schedules made into rows when an engine starts (schedules/sync.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from django_saga import schedule
from django_saga.models import Schedule
from django_saga.schedules.sync import sync

from .helpers import REPORT

pytestmark = pytest.mark.django_db


def nightly(**options):
    options.setdefault("cron", "0 2 * * *")
    return schedule("nightly", REPORT, timezone="Europe/Berlin", **options)


def test_a_new_schedule_gets_a_row_due_at_its_first_tick(kit):
    report = sync("default", [nightly()])
    row = Schedule.objects.get()
    assert report.created == ["nightly"]
    assert (row.source, row.enabled, row.cron) == ("code", True, "0 2 * * *")
    assert row.next_run_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 02:00 in Berlin


def test_syncing_again_changes_nothing(kit):
    sync("default", [nightly()])
    assert sync("default", [nightly()]).updated == []


def test_a_pause_holds_across_deploys_and_unchanged_timing_keeps_the_next_run(kit):
    sync("default", [nightly()])
    Schedule.objects.update(enabled=False, next_run_at=datetime(2026, 12, 9, 1, tzinfo=UTC))
    report = sync("default", [nightly(params={"tag": "new"})])
    row = Schedule.objects.get()
    assert report.updated == ["nightly"]
    assert (row.enabled, row.params) == (False, {"tag": "new"})
    assert row.next_run_at == datetime(2026, 12, 9, 1, tzinfo=UTC)


def test_a_timing_change_works_the_next_run_out_anew(kit):
    sync("default", [nightly()])
    sync("default", [nightly(cron="0 12 * * *")])
    assert Schedule.objects.get().next_run_at == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


def test_a_schedule_no_longer_declared_is_deleted_and_an_operators_is_left(kit):
    sync("default", [nightly()])
    Schedule.objects.create(name="by-hand", definition=REPORT, every=60, source="operator")
    report = sync("default", [])
    assert report.deleted == ["nightly"]
    assert list(Schedule.objects.values_list("name", flat=True)) == ["by-hand"]


def test_code_takes_over_an_operators_schedule_of_its_name(kit):
    Schedule.objects.create(name="nightly", definition=REPORT, every=60, source="operator")
    sync("default", [nightly()])
    row = Schedule.objects.get()
    assert (row.source, row.cron, row.every) == ("code", "0 2 * * *", None)
    assert row.next_run_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
