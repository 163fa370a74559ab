"""Operator repairs through the JSON API: retry or skip a step, compensate with
a reason, re-drive many sagas, and the trail they leave.

The console's pages' tests moved beside the pages (``tests/unit/console``), and
what they share to ``tests.unit.console.helpers``; these stay for the move of
the JSON API's tests, with their own ``repairer``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from django_saga import Step, manager
from django_saga.models import Intervention, Saga, SagaStep
from tests.factories import SagaFactory
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.console.helpers import (
    EVERYTHING,
    api,
    build_saga,
    halted_saga,
    logged_in,
    make_user,
    post_json,
    shop,
    state_of,
    step_of,
)


@pytest.fixture
def repairer(django_user_model):
    return make_user(django_user_model, *EVERYTHING, name="repairer")


@pytest.mark.django_db
def test_the_api_refuses_with_409_the_sentence_and_the_state(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    retried = post_json(client, api("retry", saga, "capture"), {"reason": "r"})
    assert retried.status_code == 409
    assert retried.json() == {
        "error": "invalid_state_transition",
        "message": f"Step 'capture' of saga {saga.pk} is completed; "
        "only a failed step can be retried.",
        "state": "halted",
    }
    skipped = post_json(client, api("skip", saga, "notify"), {"reason": "r"})
    assert skipped.status_code == 409 and "is pending" in skipped.json()["message"]
    compensated = post_json(
        client, reverse("django_saga:api-compensate", args=[saga.pk]), {"reason": "r"}
    )
    assert compensated.status_code == 409
    assert "past its pivot step 'capture'" in compensated.json()["message"]
    assert compensated.json()["state"] == "halted"
    assert not Intervention.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{nope", "The body is not JSON"),
        ("[1]", "The body must be a JSON object, not an array."),
        ({"reason": "r", "inputs": {"ok": True}}, "Unknown field 'inputs'"),
        ({"reason": "r", "input": [1]}, "must be a JSON object, got list"),
        ({"reason": 12}, "reason must be a string"),
    ],
)
def test_the_api_refuses_a_body_it_cannot_use_naming_the_problem(repairer, body, error):
    saga = halted_saga()
    response = post_json(logged_in(repairer), api("retry", saga, "ship"), body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert error in response.json()["message"]
    assert step_of(saga, "ship").status == "failed"


@pytest.mark.django_db
def test_the_api_refuses_form_fields_but_takes_an_empty_form_as_no_body(repairer):
    saga = build_saga("failed")
    client = logged_in(repairer)
    url = reverse("django_saga:api-compensate", args=[saga.pk])
    form = client.post(url, {"reason": "r"})
    assert form.status_code == 400 and "not a form" in form.json()["message"]
    assert state_of(saga) == "failed"
    # An empty form is no body at all: the operator still has to say why.
    empty = client.post(url)
    assert empty.status_code == 400 and "A reason is required" in empty.json()["message"]
    assert state_of(saga) == "failed"
    assert post_json(client, url, {"reason": "r"}).status_code == 202
    assert state_of(saga) == "compensating"


@pytest.mark.django_db
def test_the_api_retries_a_step_by_name_or_id_with_its_own_input_by_default(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    response = post_json(client, api("retry", saga, step_of(saga, "ship").pk), {"reason": "go"})
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "started"
    assert {s["name"]: s["status"] for s in body["steps"]}["ship"] == "started"
    assert step_of(saga, "ship").input == {"parcel": "p-1"}
    assert body["interventions"][0]["reason"] == "go"
    # By name, once it failed again: with new input this time.
    SagaStep.objects.filter(saga=saga, name="ship").update(status="failed")
    Saga.objects.filter(pk=saga.pk).update(state="halted")
    again = post_json(client, api("retry", saga, "ship"), {"reason": "go", "input": {"ok": True}})
    assert again.status_code == 202
    assert step_of(saga, "ship").input == {"ok": True}
    assert LogEntry.objects.filter(object_id=saga.pk, user=repairer).count() == 2


@pytest.mark.django_db
def test_the_api_records_the_reason_of_a_compensation(repairer):
    saga = build_saga("failed")
    response = post_json(
        logged_in(repairer),
        reverse("django_saga:api-compensate", args=[saga.pk]),
        {"reason": "customer cancelled"},
    )
    assert response.status_code == 202 and response.json()["state"] == "compensating"
    entry = Intervention.objects.get(saga=saga)
    assert (entry.action, entry.actor, entry.reason) == (
        "compensate",
        "repairer",
        "customer cancelled",
    )


@pytest.mark.django_db(transaction=True)
def test_an_operator_skips_a_halted_step_through_the_api(repairer, run_engine):
    run_engine()
    saga = manager.start("order", [*shop(), Step("notify", "test.record")])
    assert wait_terminal(saga.id).state == "halted"
    response = post_json(
        logged_in(repairer),
        api("skip", saga, "ship"),
        {"reason": "shipped by hand", "output": {"tracking": "T-9"}},
    )
    assert response.status_code == 202
    finished = wait_terminal(saga.id)
    assert finished.state == "completed"
    assert finished.step("ship").output == {"tracking": "T-9"}
    assert Ledger.objects.filter(step_id=finished.step("notify").id, action="do:notify").exists()
    assert not Ledger.objects.filter(step_id=finished.step("ship").id).exists()


@pytest.mark.django_db
def test_the_api_redrives_and_reports_progress(repairer):
    # Failed with no failed step, and the oldest: the first a re-drive picks.
    odd = SagaFactory(id="0" * 26, name="order", failed=True)
    sagas = sorted((halted_saga() for _ in range(3)), key=lambda saga: saga.pk)
    client = logged_in(repairer)
    response = post_json(
        client,
        reverse("django_saga:api-redrive"),
        {"name": "order", "rate": 4, "reason": "fixed", "limit": 3},
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["scheduled"], body["rate"], body["seconds"], body["more"]) == (2, 4.0, 0.25, True)
    assert [r["saga_id"] for r in body["refused"]] == [odd.pk]
    assert (
        "only sagas that are failed, halted or whose compensation failed can be retried"
        in (body["refused"][0]["reason"])
    )
    assert body["progress_url"] == reverse("django_saga:api-redrive-progress", args=[body["batch"]])
    assert [state_of(s) for s in sagas] == ["started", "started", "halted"]

    progress = client.get(body["progress_url"]).json()
    assert (progress["sagas"], progress["states"], progress["by"]) == (
        2,
        {"started": 2},
        "repairer",
    )
    assert progress["under_way"] is True
    Saga.objects.filter(pk__in=[s.pk for s in sagas[:2]]).update(state="completed")
    Intervention.objects.update(details={})
    later = client.get(body["progress_url"]).json()
    assert later["states"] == {"completed": 2} and later["under_way"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "rate must be a number"),
        ({"rate": 0}, "rate must be above 0"),
        ({"rate": 1, "state": "completed"}, "not 'completed'"),
        ({"rate": 1, "older_than": "soon"}, "is not an age"),
        ({"rate": 1, "limit": 0}, "limit must be a whole number from 1 to 1000"),
        ({"rate": 1, "sagas": ["X"]}, "Unknown field 'sagas'"),
    ],
)
def test_the_redrive_api_refuses_a_body_it_cannot_use(repairer, body, error):
    halted_saga()
    response = post_json(logged_in(repairer), reverse("django_saga:api-redrive"), body)
    assert response.status_code == 400
    assert error in response.json()["message"]
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_the_redrive_api_selects_by_state_and_age(repairer):
    old = halted_saga(updated_ago=timedelta(minutes=40))
    halted_saga()
    failed = build_saga("failed")
    client = logged_in(repairer)
    url = reverse("django_saga:api-redrive")
    by_age = post_json(
        client, url, {"rate": 10, "state": "halted", "older_than": "30m", "reason": "r"}
    )
    assert by_age.json()["scheduled"] == 1 and state_of(old) == "started"
    by_state = post_json(client, url, {"rate": 10, "state": ["failed"], "reason": "r"})
    assert by_state.json()["scheduled"] == 1 and state_of(failed) == "started"


@pytest.mark.django_db(transaction=True)
def test_a_redrive_takes_halted_sagas_to_completion(repairer, run_engine):
    run_engine()
    sagas = [manager.start("order", shop()) for _ in range(2)]
    for saga in sagas:
        assert wait_terminal(saga.id).state == "halted"
    # The service is fixed: the step's own input now goes through.
    SagaStep.objects.filter(name="ship").update(input={"ok": True})
    response = post_json(
        logged_in(repairer), reverse("django_saga:api-redrive"), {"rate": 20, "reason": "fixed"}
    )
    assert response.json()["scheduled"] == 2
    for saga in sagas:
        assert wait_terminal(saga.id).state == "completed"
    progress = logged_in(repairer).get(response.json()["progress_url"]).json()
    assert (progress["states"], progress["under_way"]) == ({"completed": 2}, False)
