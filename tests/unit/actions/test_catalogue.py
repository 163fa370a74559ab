"""The table of operator actions: each action declared once, and every door
offering what the table declares."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from django_saga.actions import ACTIONS, COMPENSATE, RETRY_STEP, SKIP_STEP
from django_saga.console import openapi
from django_saga.models import SagaStep
from tests import factories


def test_every_action_has_its_own_name_slug_permission_and_operation() -> None:
    for field in ("name", "slug", "codename", "api_id", "label"):
        values = [getattr(action, field) for action in ACTIONS]
        assert len(set(values)) == len(values), f"two actions share a {field}: {values}"


def test_a_step_action_that_takes_a_json_object_names_it() -> None:
    assert RETRY_STEP.data is not None and RETRY_STEP.data.key == "input"
    assert RETRY_STEP.data.keeps_own
    assert SKIP_STEP.data is not None and SKIP_STEP.data.key == "output"
    assert not SKIP_STEP.data.keeps_own
    assert COMPENSATE.data is None


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.name)
def test_the_console_and_the_json_api_route_every_action(action) -> None:
    saga = "01J0000000000000000000SAGA"
    if action.on_step:
        page = reverse(f"django_saga:{action.slug}", args=[saga, "01J0000000000000000000STEP"])
        api = reverse(f"django_saga:api-{action.slug}", args=[saga, "ship"])
        assert api.endswith(f"/steps/ship/{action.segment}/")
    else:
        page = reverse(f"django_saga:confirm-{action.slug}", args=[saga])
        api = reverse(f"django_saga:api-{action.slug}", args=[saga])
        assert api.endswith(f"/{saga}/{action.segment}/")
    assert action.slug in page


def test_the_openapi_document_describes_every_action() -> None:
    operations = {
        operation["operationId"]: operation
        for item in openapi.document()["paths"].values()
        for key, operation in item.items()
        if key != "parameters"
    }
    for action in ACTIONS:
        described = operations[action.api_id]
        assert action.permission in described["description"]
        body = described["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = openapi.document()["components"]["schemas"][body.rsplit("/", 1)[1]]
        expected = {"reason", *([action.data.key] if action.data else [])}
        assert set(schema["properties"]) == expected


def test_the_saga_command_has_a_subcommand_for_every_action(capsys) -> None:
    with pytest.raises(SystemExit):
        call_command("saga", "--help")
    text = capsys.readouterr().out
    for action in ACTIONS:
        assert action.slug in text


@pytest.mark.django_db
def test_a_step_refusal_names_the_saga_the_step_and_why() -> None:
    saga = factories.halted_saga()
    steps = list(SagaStep.objects.filter(saga=saga).order_by("position"))
    why = RETRY_STEP.refusal(saga, steps, "reserve")
    assert why == (
        f"Step 'reserve' of saga {saga.pk} is completed; only a failed step can be retried."
    )
    assert RETRY_STEP.refusal(saga, steps, "ship") is None
    assert COMPENSATE.refusal(saga, steps) == (
        f"Saga {saga.pk} is past its pivot step 'capture': what it did cannot be undone, so "
        "it cannot be compensated; retry or skip the failed step instead."
    )
