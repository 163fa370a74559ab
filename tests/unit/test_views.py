"""The console's JSON API: a saga's status, the list, compensating and retrying.

What the console's other tests share moved to ``tests.unit.console.helpers``
(and the fixtures to its ``conftest``); the names other test modules import
from here are re-exported, and ``operator`` kept, until they import them from there.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from django_saga.models import OutboxMessage, Saga
from tests.unit.console.helpers import (  # noqa: F401  (re-exported)
    COMPENSATE,
    RETRY,
    VIEW,
    build_saga,
    logged_in,
    make_user,
    state_of,
    urls_of,
)


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, VIEW, COMPENSATE, RETRY, name="operator")


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
