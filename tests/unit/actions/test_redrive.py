"""Re-drives: a rate checked before any saga is touched, and one retry per saga; a
selection or a pace no clock can count refused at every door, the console's included."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management.base import CommandError
from django.urls import reverse

from django_saga import actions, clock, manager
from django_saga.actions import MAX_RATE, MIN_RATE, failed_steps_refusal, rate_value, select
from django_saga.clock import MAX_SECONDS
from django_saga.errors import LimitExceeded, SagaDefinitionError
from django_saga.models import Intervention, Saga, SagaStep
from tests import factories
from tests.unit.console.helpers import (
    EVERYTHING,
    build_saga,
    field_errors,
    halted_saga,
    logged_in,
    make_user,
    post_json,
)


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


@pytest.mark.django_db
def test_a_redrive_selection_refuses_an_age_no_clock_can_subtract():
    with pytest.raises(LimitExceeded, match="older_than"):
        actions.select(older_than=timedelta(days=999999))


@pytest.mark.django_db
def test_a_rate_too_slow_to_schedule_is_refused_before_any_saga_is_retried():
    sagas = [halted_saga(), halted_saga()]
    for rate in (1e-15, 5e-324, 1 / (MAX_SECONDS * 2)):
        with pytest.raises(LimitExceeded, match=r"^rate must be at least 3.16e-08 sagas a second"):
            manager.redrive([saga.pk for saga in sagas], rate=rate, reason="fixed")
    assert not Intervention.objects.exists()
    assert {saga.state for saga in Saga.objects.all()} == {"halted"}


@pytest.mark.django_db
def test_a_redrive_whose_last_saga_would_be_sent_past_the_limit_is_refused_whole():
    ids = [halted_saga().pk for _ in range(3)]
    too_slow = 1.9 / MAX_SECONDS  # the third saga would go out after 385 days
    with pytest.raises(LimitExceeded, match=r"^rate .* would send the last of 3 sagas 385 days"):
        manager.redrive(iter(ids), rate=too_slow, reason="fixed")
    assert not Intervention.objects.exists()
    redrive = manager.redrive(iter(ids), rate=2.01 / MAX_SECONDS, reason="fixed")
    assert len(redrive.scheduled) == 3
    assert timedelta(days=364) < redrive.last_at - redrive.first_at <= timedelta(days=366)


@pytest.mark.django_db
def test_a_redrive_older_than_a_million_days_gets_400_naming_the_field(django_user_model):
    halted_saga()
    client = logged_in(make_user(django_user_model, *EVERYTHING))
    body = {"rate": 1, "reason": "fixed", "older_than": "999999d"}
    response = post_json(client, reverse("django_saga:api-redrive"), body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("older_than '999999d' is over the limit")
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_every_door_refuses_a_rate_too_slow_naming_it(django_user_model):
    from django_saga.console.forms import RateForm
    from django_saga.management.commands.saga import parse_rate

    halted_saga()
    client = logged_in(make_user(django_user_model, *EVERYTHING))
    body = {"rate": 1e-15, "reason": "fixed"}
    response = post_json(client, reverse("django_saga:api-redrive"), body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("rate must be at least")
    form = RateForm({"rate": "1e-15", "reason": "fixed"})
    assert not form.is_valid() and "at least" in form.errors["rate"][0]
    with pytest.raises(CommandError, match=r"--rate '0\.00000001/h'.*at least"):
        parse_rate("0.00000001/h")
    assert not Intervention.objects.exists()
