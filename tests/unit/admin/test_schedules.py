"""Schedules in the admin: listed in words, made by operators (checked as
code's are), read-only when declared in code, paused, resumed and run now
with a reason on the schedule's trail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from django_saga.models import Saga, Schedule, ScheduleIntervention
from django_saga.testing import SagaTestKit
from tests.unit.console.helpers import VIEW, make_user
from tests.unit.schedules.helpers import REPORT, START, make

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:django_saga_schedule_changelist")
ADD = reverse("admin:django_saga_schedule_add")
CONFIRMATION = "admin/django_saga/action_confirmation.html"


@pytest.fixture
def kit():
    with SagaTestKit(START) as kit:
        yield kit


@pytest.fixture
def scheduler(django_user_model):
    return make_user(
        django_user_model,
        VIEW,
        "django_saga.view_schedule",
        "django_saga.add_schedule",
        "django_saga.change_schedule",
        "django_saga.pause_schedule",
        "django_saga.trigger_schedule",
        name="scheduler",
    )


def test_the_list_says_when_each_schedule_runs_in_words(client, root, kit):
    make("nightly", cron="0 2 * * *", timezone="Europe/Berlin")
    client.force_login(root)
    page = client.get(CHANGELIST)
    assert "At 02:00 every day, Europe/Berlin" in page.content.decode()


def test_an_operator_makes_a_schedule_checked_as_code_is(client, scheduler, kit):
    client.force_login(scheduler)
    fields = {
        "name": "sync",
        "definition": REPORT,
        "params": "{}",
        "cron": "",
        "every": "3600",
        "timezone": "UTC",
        "missed": "latest",
        "missed_limit": "10",
        "overlap": "skip",
    }
    bad = client.post(ADD, {**fields, "timezone": "Mars/Olympus"})
    assert "unknown time zone &#x27;Mars/Olympus&#x27;" in bad.content.decode()
    assert client.post(ADD, fields).status_code == 302
    made = Schedule.objects.get()
    assert (made.source, made.every, made.enabled) == ("operator", 3600, True)
    assert made.next_run_at is not None


def test_a_schedule_declared_in_code_is_read_only(client, root, kit):
    schedule = make("nightly", cron="0 2 * * *")
    client.force_login(root)
    url = reverse("admin:django_saga_schedule_change", args=[schedule.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="cron"' not in page.content
    assert client.post(url, {"cron": "0 3 * * *"}).status_code == 403


def test_pause_asks_why_then_pauses_and_records_it(client, scheduler, kit):
    schedule = make("nightly", cron="0 2 * * *")
    client.force_login(scheduler)
    chosen = {"action": "pause_schedules", "_selected_action": [schedule.pk], "index": 0}
    page = client.post(CHANGELIST, chosen)
    assert CONFIRMATION in [t.name for t in page.templates]
    client.post(CHANGELIST, {**chosen, "post": "yes", "reason": "stocktake"}, follow=True)
    assert Schedule.objects.get().enabled is False
    entry = ScheduleIntervention.objects.get()
    assert (entry.action, entry.actor, entry.reason) == ("pause", "scheduler", "stocktake")


def test_run_now_starts_the_saga(client, scheduler, kit):
    schedule = make("nightly", cron="0 2 * * *")
    client.force_login(scheduler)
    data = {
        "action": "run_schedules_now",
        "_selected_action": [schedule.pk],
        "post": "yes",
        "reason": "needed today",
    }
    client.post(CHANGELIST, data, follow=True)
    assert Saga.objects.get().context["schedule"]["by"] == "scheduler"


def test_a_viewer_is_offered_no_schedule_action(client, django_user_model, kit):
    make("nightly", cron="0 2 * * *")
    client.force_login(make_user(django_user_model, "django_saga.view_schedule", name="watcher"))
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"pause_schedules" not in page.content
    assert b"run_schedules_now" not in page.content
    assert datetime(2026, 12, 8, 2, 0, tzinfo=UTC) == Schedule.objects.get().next_run_at
