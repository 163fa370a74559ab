"""Re-drives: a rate checked before any saga is touched, and one retry per saga."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from django_saga import clock
from django_saga.actions import MAX_RATE, MIN_RATE, failed_steps_refusal, rate_value, select
from django_saga.errors import LimitExceeded, SagaDefinitionError
from django_saga.models import Intervention, Saga, SagaStep
from tests import factories
from tests.unit.console.helpers import build_saga, field_errors, logged_in, post_json


@pytest.mark.parametrize("rate", [0, -1, float("nan"), MAX_RATE * 2, True, "5"])
def test_a_rate_that_is_not_a_pace_is_refused(rate) -> None:
    with pytest.raises(SagaDefinitionError, match="rate must be"):
        rate_value(rate)


def test_a_rate_too_slow_for_the_selection_names_the_slowest_it_takes() -> None:
    assert rate_value(MIN_RATE) == MIN_RATE
    with pytest.raises(LimitExceeded, match=r"give a rate of at least 0\.0316, or fewer sagas"):
        rate_value(0.01, count=1_000_001)


@pytest.mark.django_db
def test_a_saga_without_a_failed_step_is_left_alone_with_why() -> None:
    saga = factories.SagaFactory(failed=True)
    factories.SagaStepFactory(saga=saga, completed=True)
    why = failed_steps_refusal(saga, list(SagaStep.objects.filter(saga=saga)))
    assert why == (
        f"Saga {saga.pk} is failed with no failed step; only sagas that are failed or "
        "halted can be retried."
    )
    halted = factories.halted_saga()
    assert failed_steps_refusal(halted, list(SagaStep.objects.filter(saga=halted))) is None


@pytest.mark.django_db
def test_select_takes_only_sagas_waiting_for_an_operator_oldest_first() -> None:
    first = factories.halted_saga()
    second = factories.SagaFactory(compensation_failed=True)
    factories.SagaFactory(completed=True)
    assert list(select()) == [first, second]
    assert list(select(states=["halted"])) == [first]
    assert list(select(older_than=timedelta(days=1))) == []
    with pytest.raises(SagaDefinitionError, match="not 'completed'"):
        select(states=["completed"])
    assert clock.now() >= first.updated_at


@pytest.mark.django_db
def test_a_redrive_selection_holding_a_nul_is_refused_naming_the_field(repairer):
    failed = build_saga("failed", name="order")
    client = logged_in(repairer)
    page = client.post(
        reverse("django_saga:redrive"), {"name": "order\x00", "rate": "1", "reason": "r"}
    )
    assert page.status_code == 400
    assert "Null characters are not allowed." in field_errors(page.content.decode(), "name")
    for field in ("name", "error"):
        response = post_json(
            client, reverse("django_saga:api-redrive"), {field: "\x00", "rate": 1, "reason": "r"}
        )
        assert response.status_code == 400
        message = response.json()["message"]
        assert message.startswith(field) and "NUL" in message
    assert Saga.objects.get(pk=failed.pk).state == "failed"
    assert not Intervention.objects.exists()
