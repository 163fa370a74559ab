"""The tasks' JSON endpoints: a front end of the shop's own lists a user's
boxes and answers tasks with the user's token, console access or not."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from django_saga import Task
from django_saga.testing import SagaTestKit
from tests.testapp.forms import RefundDecisionForm
from tests.unit.console.api_helpers import create_token, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


def client_of(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {create_token(user.get_username())}"})


@pytest.fixture
def clerk(django_user_model):
    user = make_user(django_user_model, name="clerk", staff=False)
    user.groups.add(Group.objects.get_or_create(name="clerks")[0])
    return user


def start(kit, n: int = 0):
    task = Task("confirm", form=RefundDecisionForm, candidates=["clerks"], show=["context.n"])
    saga = kit.start("address", [task], {"n": n})
    return saga, kit.task(saga, "confirm")


def test_a_box_lists_the_user_s_tasks_with_every_count_and_pages_on(kit, clerk):
    made = [start(kit, n)[1].pk for n in range(52)]
    api = client_of(clerk)
    first = api.get("/sagas/api/tasks/").json()
    assert first["box"] == "mine"
    assert first["counts"] == {"mine": 52, "claimed": 0, "team": 52}
    assert [t["id"] for t in first["results"]] == made[::-1][:50]
    second = api.get(first["next"]).json()
    assert [t["id"] for t in second["results"]] == made[::-1][50:]
    assert second["next"] is None


def test_a_task_gives_what_it_shows_and_its_form_s_fields(kit, clerk):
    _, task = start(kit, 7)
    body = client_of(clerk).get(f"/sagas/api/tasks/{task.pk}/").json()
    assert body["shown"] == {"context.n": 7}
    assert body["offered_to"] == [{"kind": "group", "name": "clerks"}]
    assert [(f["name"], f["type"], f["required"]) for f in body["form"]] == [
        ("amount", "DecimalField", True),
        ("note", "CharField", False),
    ]


def test_a_task_not_offered_to_the_caller_is_refused_alike_whether_or_not_it_exists(
    kit, clerk, django_user_model
):
    _, task = start(kit)
    stranger = client_of(make_user(django_user_model, name="stranger", staff=False))
    for task_id in (task.pk, "0" * 26):
        answer = stranger.get(f"/sagas/api/tasks/{task_id}/")
        assert answer.status_code == 403 and answer.json()["error"] == "not_offered"


def test_completing_through_the_api_completes_the_saga_and_a_form_error_says_which_field(
    kit, clerk
):
    saga, task = start(kit)
    api = client_of(clerk)
    url = f"/sagas/api/tasks/{task.pk}/complete/"
    bad = api.post(url, json.dumps({"data": {"amount": "x"}}), content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_form" and list(bad.json()["errors"]) == ["amount"]
    with kit.committed():
        done = api.post(url, json.dumps({"data": {"amount": "3"}}), content_type="application/json")
    assert done.status_code == 200 and done.json()["state"] == "completed"
    kit.run()
    assert kit.saga(saga).state == "completed"
    again = api.post(url, json.dumps({"data": {"amount": "3"}}), content_type="application/json")
    assert again.status_code == 409 and again.json()["error"] == "task_closed"
