"""``manage.py saga schedule ...``: list, pause, resume and run schedules
from a shell, attributed and explained like every operator action."""

from __future__ import annotations

import json

import pytest

from django_saga.models import Saga, Schedule, ScheduleIntervention
from django_saga.testing import SagaTestKit
from tests.unit.schedules.helpers import START, make

from .helpers import REASON, refused, saga

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit():
    with SagaTestKit(START) as kit:
        yield kit


def test_list_shows_each_schedule_in_words_with_its_next_run(kit):
    make("nightly", cron="0 2 * * *", timezone="Europe/Berlin")
    printed = saga("schedule", "list")
    assert "nightly" in printed
    assert "At 02:00 every day, Europe/Berlin" in printed
    assert "enabled" in printed
    (row,) = [json.loads(line) for line in saga("schedule", "list", "--json").splitlines()]
    assert row["name"] == "nightly"
    assert row["next_run_at"] == "2026-12-08T01:00:00Z"


def test_list_says_when_there_is_none(kit):
    assert saga("schedule", "list").strip() == "No schedule."


def test_pause_resume_and_run_are_recorded_with_who_and_why(kit):
    make("nightly", cron="0 2 * * *")
    assert "paused" in saga("schedule", "pause", "nightly", *REASON, "--by", "ada")
    assert Schedule.objects.get().enabled is False
    assert "resumed: next run" in saga("schedule", "resume", "nightly", *REASON, "--by", "ada")
    printed = saga("schedule", "run", "nightly", *REASON, "--by", "ada")
    assert f"started saga {Saga.objects.get().pk}" in printed
    trail = ScheduleIntervention.objects.order_by("id")
    assert [(t.action, t.actor) for t in trail] == [
        ("pause", "ada (named on the command line)"),
        ("resume", "ada (named on the command line)"),
        ("run_now", "ada (named on the command line)"),
    ]


def test_refusals_are_the_managers_sentences(kit):
    make("nightly", cron="0 2 * * *")
    assert "Schedule nightly is not paused" in refused("schedule", "resume", "nightly", *REASON)
    assert "No schedule 'nope'" in refused("schedule", "pause", "nope", *REASON)
