"""An action's declaration: who acts, why, and the JSON object it takes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga.actions import COMPENSATE, RETRY_STEP, SKIP_STEP, Actor, reason_of
from django_saga.errors import SagaDefinitionError
from django_saga.models import Intervention, Saga
from tests.unit.console.helpers import VIEW, build_saga, logged_in, make_user


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, VIEW, COMPENSATE.permission, name="operator")


def test_whoever_is_named_as_acting_must_say_why() -> None:
    with pytest.raises(SagaDefinitionError, match="A reason is required"):
        reason_of(Actor.of("olga"), "  ")
    assert reason_of(Actor.of(None), "") == ""
    assert Actor.of(None).name == "unattributed"
    assert reason_of(Actor.of("olga"), "  the carrier is back \n") == "the carrier is back"


def test_who_acts_is_a_user_a_name_or_no_one() -> None:
    with pytest.raises(SagaDefinitionError, match="by must be a user, a name or None, got int"):
        Actor.of(7)
    with pytest.raises(SagaDefinitionError):
        Actor.of("olga\x1b[2J")


def test_an_input_left_out_keeps_the_steps_own_and_an_output_left_out_is_empty() -> None:
    assert RETRY_STEP.data_value(None, "ship") is None
    assert SKIP_STEP.data_value(None, "ship") == {}
    assert COMPENSATE.data_value({"ignored": 1}, "") is None
    assert SKIP_STEP.data_value({"tracking": "T1"}, "ship") == {"tracking": "T1"}
    with pytest.raises(SagaDefinitionError, match="output of step 'ship' must be a JSON object"):
        SKIP_STEP.data_value(["T1"], "ship")  # type: ignore[arg-type]


def test_the_permission_is_the_apps() -> None:
    assert RETRY_STEP.permission == "django_saga.retry_saga_step"


@pytest.mark.django_db
def test_the_json_api_refuses_a_blank_reason_as_the_console_does(operator):
    saga = build_saga("failed")
    client = logged_in(operator)
    url = reverse("django_saga:api-compensate", args=[saga.pk])
    response = client.post(url, {"reason": " "}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("A reason is required")
    assert Saga.objects.get(pk=saga.pk).state == "failed"
    assert not Intervention.objects.exists()
