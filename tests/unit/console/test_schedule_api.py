"""django_saga.console.schedule_api: the schedules as JSON (the command's
fields, the last run's outcome, the next ticks, the runs and the trail) and
their endpoints; each answer the OpenAPI document lists is checked in
test_json_api.py, from the exchanges' table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from django_saga import manager
from django_saga.console.schedule_api import schedule_document, schedule_json
from django_saga.models import Saga, Schedule, ScheduleIntervention, ScheduleRun
from django_saga.schedules.fields import schedule_fields
from tests.unit.console.api_helpers import create_token, make_user, post_json, reason
from tests.unit.console.helpers import PAUSE_SCHEDULE, SCHEDULES, VIEW, VIEW_SCHEDULE
from tests.unit.console.openapi.helpers import (
    RUN,
    SCHEDULE,
    SCHEDULE_LIST,
    assert_conforms,
    sched,
)
from tests.unit.schedules.helpers import START, make

pytestmark = pytest.mark.django_db


def token_of(django_user_model, *perms: str, name: str = "bot") -> Client:
    """A client with an API token of a user holding ``perms``."""
    make_user(django_user_model, *perms, name=name)
    return Client(headers={"Authorization": f"Bearer {create_token(name)}"})


# -- as JSON --------------------------------------------------------------------------------------
def test_a_schedule_in_the_list_has_the_commands_fields_its_last_outcome_and_its_url(kit):
    make(every=3600)
    kit.advance(hours=1)
    schedule = Schedule.objects.get()
    shown = schedule_json(schedule, "completed")
    assert {k: v for k, v in shown.items() if k in schedule_fields(schedule)} == (
        schedule_fields(schedule)
    )
    assert set(shown) - set(schedule_fields(schedule)) == {"last_saga_state", "url"}
    assert shown["last_saga_state"] == "completed"
    assert shown["url"] == "/sagas/api/schedules/report/"


def test_a_schedules_document_adds_its_policies_next_ticks_runs_and_trail(kit):
    make(every=3600, missed="each", missed_limit=3, overlap="allow")
    kit.advance(hours=1)
    manager.pause_schedule("report", by="ada", reason="hold")
    schedule = Schedule.objects.get()
    document = schedule_document(schedule, kit.clock.now())
    assert (document["missed"], document["missed_limit"], document["overlap"]) == (
        "each",
        3,
        "allow",
    )
    assert document["priority"] is None  # the definition's own
    Schedule.objects.filter(pk=schedule.pk).update(priority="high")
    schedule.refresh_from_db()
    assert schedule_document(schedule, kit.clock.now())["priority"] == "high"
    assert document["enabled"] is False
    assert document["upcoming"][0] == datetime(2026, 12, 7, 11, 30, tzinfo=UTC)
    latest, first = document["runs"]
    saga = Saga.objects.get(pk=latest["saga_id"])
    assert first["tick"] == START
    assert latest == {
        "tick": datetime(2026, 12, 7, 10, 30, tzinfo=UTC),
        "started_at": datetime(2026, 12, 7, 10, 30, tzinfo=UTC),
        "by": "",
        "saga_id": saga.pk,
        "saga_state": "completed",
        "url": f"/sagas/api/sagas/{saga.pk}/",
    }
    (entry,) = document["interventions"]
    assert (entry["action"], entry["by"], entry["reason"], entry["details"]) == (
        "pause",
        "ada",
        "hold",
        {},
    )


# -- the endpoints --------------------------------------------------------------------------------
def test_the_list_gives_every_schedule_by_name_with_its_last_runs_outcome(kit, django_user_model):
    make("nightly", cron="0 2 * * *", timezone="Europe/Berlin")
    make("hourly", every=3600)
    kit.advance(minutes=1)
    client = token_of(django_user_model, VIEW, VIEW_SCHEDULE)
    body = assert_conforms(client.get(sched()), SCHEDULE_LIST, "get")
    assert body["count"] == 2
    hourly, nightly = body["results"]
    assert (hourly["name"], hourly["when"], hourly["last_saga_state"]) == (
        "hourly",
        "every hour",
        "completed",
    )
    assert (nightly["when"], nightly["next_run_at"], nightly["last_saga_state"]) == (
        "At 02:00 every day, Europe/Berlin",
        "2026-12-08T01:00:00Z",
        None,
    )
    assert client.get(hourly["url"]).json()["runs"][0]["saga_id"] == Saga.objects.get().pk


def test_pausing_through_the_api_is_on_the_trail_as_the_tokens_user_with_the_reason(
    kit, django_user_model
):
    make(cron="0 * * * *")
    client = token_of(django_user_model, VIEW, *SCHEDULES, name="deploy-bot")
    response = post_json(client, sched("report", "pause/"), reason("release 42"))
    assert response.status_code == 200
    body = response.json()
    assert body["enabled"] is False
    assert body["interventions"] == [
        {
            "at": "2026-12-07T09:30:00Z",
            "by": "deploy-bot",
            "action": "pause",
            "reason": "release 42",
            "details": {},
        }
    ]
    resumed = post_json(client, sched("report", "resume/"), reason("released")).json()
    assert resumed["enabled"] is True
    assert resumed["interventions"][-1]["details"] == {"next_run_at": "2026-12-07T10:00:00Z"}


def test_running_now_answers_202_with_the_new_run_first(kit, django_user_model):
    make(cron="0 * * * *")
    client = token_of(django_user_model, VIEW, *SCHEDULES)
    response = post_json(client, sched("report", "run/"), reason("needed now"))
    body = assert_conforms(response, RUN, "post")
    assert response.status_code == 202
    (run,) = body["runs"]
    saga = Saga.objects.get()
    assert (run["saga_id"], run["by"], run["saga_state"]) == (saga.pk, "bot", "started")
    assert body["last_saga_id"] == saga.pk
    assert body["next_run_at"] == "2026-12-07T10:00:00Z"  # its ticks stay as they were


def test_a_refusal_is_the_managers_sentence_and_writes_nothing(kit, django_user_model):
    make(cron="0 * * * *")
    client = token_of(django_user_model, VIEW, *SCHEDULES)
    refused = post_json(client, sched("report", "resume/"), reason("go"))
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "invalid_state_transition",
        "message": "Schedule report is not paused.",
        "enabled": True,
    }
    Schedule.objects.update(definition="tests.testapp.sagas.Nowhere")
    broken = post_json(client, sched("report", "run/"), reason("now"))
    assert broken.status_code == 409
    assert broken.json()["error"] == "cannot_start" and "Nowhere" in broken.json()["message"]
    assert not ScheduleIntervention.objects.exists()
    assert not ScheduleRun.objects.exists() and not Saga.objects.exists()


def test_an_unknown_schedule_and_a_blank_reason_are_refused_in_words(kit, django_user_model):
    make(cron="0 * * * *")
    client = token_of(django_user_model, VIEW, *SCHEDULES)
    unknown = client.get(sched("nope"))
    assert (unknown.status_code, unknown.json()["message"]) == (404, "No schedule 'nope'.")
    blank = post_json(client, sched("report", "pause/"), reason("   "))
    assert blank.status_code == 400
    assert blank.json()["message"].startswith("A reason is required")
    assert Schedule.objects.get().enabled is True


def test_each_action_needs_its_permission_named_in_the_refusal(kit, django_user_model):
    make(cron="0 * * * *")
    reader = token_of(django_user_model, VIEW, VIEW_SCHEDULE, PAUSE_SCHEDULE)
    denied = post_json(reader, sched("report", "run/"), reason())
    assert denied.status_code == 403
    assert denied.json()["message"] == (
        "You may not run schedules now (needs django_saga.trigger_schedule)."
    )
    blind = token_of(django_user_model, VIEW, name="blind")
    hidden = blind.get(sched("report"))
    assert_conforms(hidden, SCHEDULE, "get")
    assert hidden.json()["message"] == (
        "You may not view schedules (needs django_saga.view_schedule)."
    )
    assert not Saga.objects.exists() and not ScheduleIntervention.objects.exists()
