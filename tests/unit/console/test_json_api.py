"""django_saga.console.json_api: the JSON endpoints, each answer one the OpenAPI
document lists (the schedules' endpoints' too), and the document served as the
project names its cookies; a saga's status and the list, and an operator's repairs
(compensate, retry or skip a step, re-drive), each body it cannot use refused
naming the problem."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from django_saga import Step, manager
from django_saga.console import openapi
from django_saga.models import Intervention, OutboxMessage, Saga, SagaStep
from tests.factories import SagaFactory
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.console.api_helpers import (
    OPENAPI_URL,
    World,
    api,
    create_token,
    make_user,
    make_world,
    reason,
)
from tests.unit.console.helpers import (
    DEEP,
    VIEW,
    build_saga,
    halted_saga,
    logged_in,
    post_json,
    shop,
    state_of,
    step_of,
    urls_of,
)
from tests.unit.console.helpers import api as step_api
from tests.unit.console.openapi.helpers import (
    API_EXCHANGES,
    API_WITH_SETTINGS,
    assert_conforms,
    check_exchange,
    check_exchange_with,
)
from tests.unit.management.operator_cli.helpers import DEEP_FIELD, nothing_changed


@pytest.fixture
def world(django_user_model, settings) -> World:
    return make_world(django_user_model, settings)


# -- the document, served -----------------------------------------------------------------------
@pytest.mark.django_db
def test_the_console_serves_the_document_with_the_projects_prefix_and_names(
    django_user_model, settings
):
    settings.SESSION_COOKIE_NAME = "ops_session"
    settings.CSRF_COOKIE_NAME = "ops_csrf"
    settings.CSRF_HEADER_NAME = "HTTP_X_OPS_CSRF"
    client = Client()
    client.force_login(make_user(django_user_model, VIEW, name="viewer"))
    response = client.get(OPENAPI_URL, SCRIPT_NAME="/shop")
    served = assert_conforms(response, "/api/openapi.json", "get")
    assert served["servers"][0]["url"] == "/shop/sagas"
    schemes = served["components"]["securitySchemes"]
    assert schemes["sessionCookie"]["name"] == "ops_session"
    assert schemes["csrfToken"]["name"] == "X-Ops-Csrf"
    assert "`ops_csrf` cookie" in served["info"]["description"]
    validate(served, cls=OpenAPIV31SpecValidator)
    # Otherwise it is the document the docs publish.
    defaults = openapi.document(server="/shop/sagas")
    assert served["paths"] == defaults["paths"]
    assert served["components"]["schemas"] == defaults["components"]["schemas"]


@pytest.mark.django_db
def test_the_served_document_names_djangos_default_cookie_and_header(django_user_model):
    client = Client()
    client.force_login(make_user(django_user_model, VIEW, name="viewer"))
    assert client.get(OPENAPI_URL).json() == openapi.document()


@pytest.mark.django_db
def test_the_document_is_for_whoever_may_view_the_console(django_user_model):
    outsider = make_user(django_user_model, name="outsider")
    refused = Client().get(OPENAPI_URL)
    assert assert_conforms(refused, "/api/openapi.json", "get")["error"] == "not_authenticated"
    denied = Client(headers={"Authorization": f"Bearer {create_token(outsider.username)}"})
    answer = denied.get(OPENAPI_URL)
    assert assert_conforms(answer, "/api/openapi.json", "get")["error"] == "permission_denied"


@pytest.mark.django_db
def test_head_answers_like_get_without_a_body_and_options_lists_the_methods(django_user_model):
    client = Client()
    client.force_login(make_user(django_user_model, VIEW, name="viewer"))
    head = client.head("/sagas/api/sagas/")
    assert (head.status_code, head.content) == (200, b"")
    options = client.options("/sagas/api/sagas/")
    assert options.status_code == 200
    assert options["Allow"] == "GET, HEAD, OPTIONS"


# -- every endpoint, its successes and its refusals ---------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "status", "code", "call"),
    [pytest.param(*row[1:], id=row[0]) for row in API_EXCHANGES],
)
def test_each_answer_is_one_the_document_lists(world, path, method, status, code, call):
    check_exchange(world, path, method, status, code, call)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "status", "code", "call", "overrides"),
    [pytest.param(*row[1:], id=row[0]) for row in API_WITH_SETTINGS],
)
def test_each_answer_a_setting_brings_is_one_the_document_lists(
    world, settings, path, method, status, code, call, overrides
):
    check_exchange_with(settings, overrides, world, path, method, status, code, call)


# -- the answers Django used to give in HTML (fixed in json_api.json_body) -----------------------
@pytest.mark.django_db
def test_a_body_over_djangos_upload_limit_is_refused_413_in_json(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = Saga.objects.get(pk=world.sagas["failed"].pk).state
    response = post_json(world.root, api(world, "failed", "compensate/"), reason("r" * 1500))
    assert response.status_code == 413
    assert response.json() == {
        "error": "too_large",
        "message": "The body is over the limit of 1000 bytes (DATA_UPLOAD_MAX_MEMORY_SIZE).",
    }
    assert Saga.objects.get(pk=world.sagas["failed"].pk).state == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("&".join(f"f{i}=1" for i in range(1100)), "application/x-www-form-urlencoded"),
        ("--x\r\n", "multipart/form-data"),  # no boundary
    ],
    ids=["too-many-fields", "multipart-without-boundary"],
)
def test_a_form_django_cannot_read_is_refused_400_in_json(world, body, content_type):
    response = world.root.post(api(world, "failed", "compensate/"), body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert "not a form" in response.json()["message"]


# -- a saga's status, the list, compensating and retrying --------------------------------------
@pytest.mark.django_db
def test_status_endpoint_returns_the_saga_and_its_steps(operator):
    saga = build_saga("failed")
    data = logged_in(operator).get(urls_of(saga)["api-detail"]).json()
    assert data["saga_id"] == saga.pk
    assert data["name"] == "order"
    assert data["state"] == "failed"
    assert data["completed_at"] is None
    for key in ("created_at", "updated_at"):
        assert timezone.datetime.fromisoformat(data[key].replace("Z", "+00:00"))
    assert [(s["name"], s["action"], s["status"], s["error"]) for s in data["steps"]] == [
        ("a", "test.record", "completed", ""),
        ("b", "test.fail", "failed", "ValueError: b refuses"),
    ]
    assert set(data["steps"][0]) >= {"id", "name", "action", "status", "executed_at", "error"}
    assert data["steps"][0]["id"] == saga.steps[0].pk


@pytest.mark.django_db
def test_status_endpoint_404s_in_json(operator):
    response = logged_in(operator).get(reverse("django_saga:api-detail", args=["NOPE"]))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.django_db
def test_compensate_endpoint_accepts_then_refuses_with_409(operator):
    saga = build_saga("failed")
    client = logged_in(operator)
    url = reverse("django_saga:api-compensate", args=[saga.pk])
    why = {"reason": "asked by the customer"}
    unexplained = client.post(url)
    assert unexplained.status_code == 400
    assert "A reason is required" in unexplained.json()["message"]
    accepted = client.post(url, why, content_type="application/json")
    assert accepted.status_code == 202
    assert accepted.json()["state"] == "compensating"
    assert OutboxMessage.objects.filter(saga=saga, kind="compensate").count() == 1
    # Under way already: a second request is refused, and nothing more is sent.
    again = client.post(url, why, content_type="application/json")
    assert again.status_code == 409
    assert again.json()["state"] == "compensating"
    Saga.objects.filter(pk=saga.pk).update(state="compensated")
    done = client.post(url, why, content_type="application/json")
    assert done.status_code == 409
    body = done.json()
    assert body["error"] == "invalid_state_transition"
    assert body["state"] == "compensated"
    assert "already compensated" in body["message"]
    assert OutboxMessage.objects.filter(saga=saga, kind="compensate").count() == 1
    assert client.post(reverse("django_saga:api-compensate", args=["NOPE"])).status_code == 404


@pytest.mark.django_db
def test_retry_endpoint_only_for_a_failed_compensation(operator):
    client = logged_in(operator)
    failed = build_saga("failed")
    why = {"reason": "the refund service is back"}
    refused = client.post(
        reverse("django_saga:api-retry-compensation", args=[failed.pk]),
        why,
        content_type="application/json",
    )
    assert refused.status_code == 409
    assert "only a saga whose compensation failed" in refused.json()["message"]
    broken = build_saga("compensation_failed")
    accepted = client.post(
        reverse("django_saga:api-retry-compensation", args=[broken.pk]),
        why,
        content_type="application/json",
    )
    assert accepted.status_code == 202
    assert accepted.json()["state"] == "compensating"


@pytest.mark.django_db
def test_list_endpoint_filters_and_pages(operator, settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_PAGE_SIZE": 2}
    done = [build_saga("completed") for _ in range(3)]
    failed = build_saga("failed", name="refund")
    client = logged_in(operator)
    everything = client.get(reverse("django_saga:api-list")).json()
    assert everything["count"] == 4 and everything["count_exact"] is True
    assert [r["saga_id"] for r in everything["results"]] == [failed.pk, done[2].pk]
    assert everything["previous"] is None
    older = client.get(everything["next"]).json()
    assert [r["saga_id"] for r in older["results"]] == [done[1].pk, done[0].pk]
    assert older["next"] is None
    assert client.get(older["previous"]).json()["results"] == everything["results"]
    only = client.get(reverse("django_saga:api-list"), {"state": "failed"}).json()
    assert [r["saga_id"] for r in only["results"]] == [failed.pk]
    assert only["results"][0]["steps_done"] == 1 and only["results"][0]["steps_total"] == 2
    bad = client.get(reverse("django_saga:api-list"), {"state": "nonsense"})
    assert bad.status_code == 400


@pytest.mark.django_db
def test_the_json_list_filters_by_key(viewer, sagas):
    body = logged_in(viewer).get(reverse("django_saga:api-list"), {"key": "order-124"}).json()
    assert [(r["saga_id"], r["key"]) for r in body["results"]] == [(sagas["other"].pk, "order-124")]
    assert body["count"] == 1


# -- an operator's repairs: retry or skip a step, compensate with a reason, re-drive -----------
@pytest.mark.django_db
def test_the_api_refuses_with_409_the_sentence_and_the_state(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    retried = post_json(client, step_api("retry", saga, "capture"), {"reason": "r"})
    assert retried.status_code == 409
    assert retried.json() == {
        "error": "invalid_state_transition",
        "message": f"Step 'capture' of saga {saga.pk} is completed; "
        "only a failed step can be retried.",
        "state": "halted",
    }
    skipped = post_json(client, step_api("skip", saga, "notify"), {"reason": "r"})
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
    response = post_json(logged_in(repairer), step_api("retry", saga, "ship"), body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert error in response.json()["message"]
    assert step_of(saga, "ship").status == "failed"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [DEEP, DEEP_FIELD], ids=["body", "field"])
@pytest.mark.parametrize(
    "endpoint",
    ["api-compensate", "api-retry-compensation", "api-retry-step", "api-skip-step", "api-redrive"],
)
def test_every_json_api_body_nested_too_deep_is_a_400_naming_the_problem(repairer, endpoint, body):
    saga = halted_saga()
    args: list[Any] = []
    if endpoint != "api-redrive":
        args = [saga.pk, "ship"] if endpoint.endswith("-step") else [saga.pk]
    response = post_json(logged_in(repairer), reverse(f"django_saga:{endpoint}", args=args), body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert response.json()["message"].startswith("The body is nested too deep to read")
    assert "SAGA['MAX_JSON_DEPTH']" in response.json()["message"]
    nothing_changed(saga)


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
    response = post_json(
        client, step_api("retry", saga, step_of(saga, "ship").pk), {"reason": "go"}
    )
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "started"
    assert {s["name"]: s["status"] for s in body["steps"]}["ship"] == "started"
    assert step_of(saga, "ship").input == {"parcel": "p-1"}
    assert body["interventions"][0]["reason"] == "go"
    # By name, once it failed again: with new input this time.
    SagaStep.objects.filter(saga=saga, name="ship").update(status="failed")
    Saga.objects.filter(pk=saga.pk).update(state="halted")
    again = post_json(
        client, step_api("retry", saga, "ship"), {"reason": "go", "input": {"ok": True}}
    )
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
        step_api("skip", saga, "ship"),
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
