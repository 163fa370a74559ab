"""Flow control's JSON endpoints: read with console access; pause and resume
with its permission, the manager's refusals as 409."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from django_saga.messages import EXECUTE
from django_saga.models import ActionRuns, Pause
from tests.unit.console.api_helpers import create_token, make_user
from tests.unit.console.helpers import VIEW

pytestmark = pytest.mark.django_db


def client_of(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {create_token(user.get_username())}"})


def post(client: Client, path: str, body: dict) -> object:
    return client.post(path, json.dumps(body), content_type="application/json")


def test_pausing_needs_its_permission_and_reading_does_not(django_user_model):
    viewer = client_of(make_user(django_user_model, VIEW, name="viewer"))
    assert viewer.get("/sagas/api/flow/").status_code == 200
    refused = post(viewer, "/sagas/api/flow/pause/", {"action": "pay*", "reason": "r"})
    assert refused.status_code == 403 and refused.json()["error"] == "permission_denied"
    assert not Pause.objects.exists()


def test_a_pause_and_its_resume_answer_with_the_pause(django_user_model):
    user = make_user(django_user_model, VIEW, "django_saga.pause_actions", name="ops")
    ops = client_of(user)
    paused = post(ops, "/sagas/api/flow/pause/", {"name": "order", "reason": "audit"})
    assert paused.status_code == 201
    assert paused.json()["scope"] == "name" and paused.json()["paused_by"] == "ops"
    listed = ops.get("/sagas/api/flow/").json()["pauses"]
    assert [p["pattern"] for p in listed] == ["order"]
    again = post(ops, "/sagas/api/flow/pause/", {"name": "order", "reason": "again"})
    assert again.status_code == 409
    assert again.json()["message"] == "Saga name order is paused already."
    resumed = post(ops, "/sagas/api/flow/resume/", {"name": "order", "reason": "done"})
    assert resumed.status_code == 200 and resumed.json()["resume_reason"] == "done"
    assert ops.get("/sagas/api/flow/").json()["pauses"] == []


def test_each_limited_action_says_its_limit_what_runs_and_its_current_rate(django_user_model):
    ActionRuns.objects.create(kind=EXECUTE, action="test.paced", runs=300)
    viewer = client_of(make_user(django_user_model, VIEW, name="viewer"))
    limits = {row["action"]: row for row in viewer.get("/sagas/api/flow/").json()["limits"]}
    assert limits["test.paced"] == {
        "kind": EXECUTE,
        "action": "test.paced",
        "concurrency": None,
        "per": None,
        "rate": "20/s",
        "running": None,
        "runs_per_second": 5.0,
        "waiting": 0,
        "paused": 0,
    }
    assert limits["test.limited"]["runs_per_second"] == 0
