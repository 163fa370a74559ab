"""The audit trail: one rule for reasons at every door, and a trail that outlives its saga."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga import SagaDefinitionError, manager
from django_saga.models import Intervention, Saga
from django_saga.retention import purge
from tests.factories import halted_saga
from tests.unit.test_views import build_saga, logged_in, operator  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


def test_whoever_is_named_as_acting_says_why():
    named = build_saga("failed")
    with pytest.raises(SagaDefinitionError, match="A reason is required"):
        manager.compensate(named.pk, by="clerk")
    with pytest.raises(SagaDefinitionError, match="A reason is required"):
        manager.compensate(named.pk, by="clerk", reason="   ")
    with pytest.raises(SagaDefinitionError, match="A reason is required"):
        manager.redrive([halted_saga().pk], rate=1, by="clerk")
    assert not Intervention.objects.exists()
    assert Saga.objects.get(pk=named.pk).state == "failed"


def test_code_that_names_no_one_may_act_without_a_reason_and_is_unattributed():
    saga = build_saga("failed")
    manager.compensate(saga.pk)
    [entry] = Intervention.objects.filter(saga_id=saga.pk)
    assert (entry.actor, entry.reason) == ("unattributed", "")


def test_the_json_api_refuses_a_blank_reason_as_the_console_does(operator):  # noqa: F811
    saga = build_saga("failed")
    client = logged_in(operator)
    url = reverse("django_saga:api-compensate", args=[saga.pk])
    response = client.post(url, {"reason": " "}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("A reason is required")
    assert Saga.objects.get(pk=saga.pk).state == "failed"
    assert not Intervention.objects.exists()


def test_the_admin_lists_the_trail_of_a_saga_purged_since(admin_client):
    saga = build_saga("failed")
    manager.compensate(saga.pk, by="clerk", reason="the customer cancelled")
    Saga.objects.filter(pk=saga.pk).update(state="compensated")
    kept = halted_saga()
    manager.skip_step(kept.pk, "ship", {"tracking": "T1"}, by="clerk", reason="handed over")
    Saga.objects.filter(pk=saga.pk).update(completed_at=kept.created_at.replace(year=2000))
    assert purge(1).sagas == 1

    page = admin_client.get(reverse("admin:django_saga_intervention_changelist"))
    assert page.status_code == 200
    shown = page.content.decode()
    assert f"{saga.pk} <em>(purged)</em>" in shown
    assert reverse("admin:django_saga_saga_change", args=[kept.pk]) in shown
    [entry] = Intervention.objects.filter(saga_id=saga.pk)
    detail = admin_client.get(reverse("admin:django_saga_intervention_change", args=[entry.pk]))
    assert detail.status_code == 200
    assert "the customer cancelled" in detail.content.decode()
