"""One JSON shape of a saga and its steps for every door."""

from __future__ import annotations

import pytest

from django_saga.console.openapi.components import SAGA_PROPERTIES, STEP_PROPERTIES
from django_saga.serialise import saga_document, saga_json, step_json
from tests import factories


@pytest.mark.django_db
def test_the_openapi_schemas_list_exactly_the_fields_serialised() -> None:
    saga = factories.halted_saga()
    assert set(saga_json(saga)) == set(SAGA_PROPERTIES)
    assert set(step_json(saga.steps[0])) == set(STEP_PROPERTIES)


@pytest.mark.django_db
def test_a_steps_content_is_given_only_when_asked() -> None:
    saga = factories.halted_saga(input={"address": "old"})
    step = saga.step("ship")
    assert "input" not in step_json(step)
    assert step_json(step, content=True)["input"] == {"address": "old"}
    document = saga_document(type(saga).objects.get(pk=saga.pk), [], content=True)
    assert document["context"] == {}
    assert [s["name"] for s in document["steps"]] == ["reserve", "capture", "ship"]


@pytest.mark.django_db
def test_a_sleeping_step_says_when_it_wakes_and_any_other_step_says_null() -> None:
    saga = factories.SagaFactory(name="reminder")
    sleeping = factories.SagaStepFactory(saga=saga, position=0, name="nap", sleeping=True)
    done = factories.SagaStepFactory(saga=saga, position=1, name="mail", completed=True)
    assert step_json(sleeping)["sleeping_until"] == sleeping.timeout_at
    assert step_json(done)["sleeping_until"] is None
