"""django_saga.console.openapi.components: the security schemes a project's names
fill in, and schemas that a saga's status and a JSON object really fit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from django_saga import actions, manager
from django_saga.console import tokens
from django_saga.console.openapi.components import components
from django_saga.errors import SagaDefinitionError
from django_saga.models import SagaState
from django_saga.serialise import saga_document
from tests.factories import halted_saga
from tests.unit.console.helpers import build_saga
from tests.unit.console.openapi.helpers import fits


def test_the_security_schemes_name_the_projects_cookies_and_header():
    schemes = components("ops_session", "ops_csrf", "X-Ops-Csrf")["securitySchemes"]
    session = schemes["sessionCookie"]
    assert (session["in"], session["name"]) == ("cookie", "ops_session")
    assert (schemes["csrfToken"]["in"], schemes["csrfToken"]["name"]) == ("header", "X-Ops-Csrf")
    assert "`ops_csrf` cookie" in schemes["csrfToken"]["description"]
    assert schemes["bearerToken"]["scheme"] == "bearer"
    assert schemes["bearerToken"]["bearerFormat"].startswith(tokens.TOKEN_PREFIX)


@pytest.mark.django_db
def test_a_sagas_status_in_every_state_fits_the_saga_status_schema(django_user_model):
    sagas = [build_saga(state) for state in SagaState.values if state != "halted"]
    halted = halted_saga()
    admin = django_user_model.objects.create(username="root", is_superuser=True)
    manager.redrive([halted.pk], rate=1, by=admin, reason="carrier back")
    sagas.append(halted)
    assert {saga.state for saga in sagas} == set(SagaState.values)
    for saga in sagas:
        saga.refresh_from_db()
        # As JsonResponse sends it: dates in ISO 8601.
        document = saga_document(saga, saga.interventions.order_by("id"))
        status = json.loads(json.dumps(document, cls=DjangoJSONEncoder))
        assert fits("SagaStatus", status), saga.state
    assert status["interventions"], "no trail entry: the Intervention schema is not checked"
    # The schema is closed: a field serialise.py added without the document is caught.
    assert not fits("SagaStatus", {**status, "owner": "ops"})


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [True, None, 2.5, {"c": "text"}]},
        {},
        {"a\x00": 1},
        {"a": "nul\x00"},
        {"a": [{"b": ["deep\x00"]}]},
        {"a": {"b\x00": None}},
    ],
    ids=["nested", "empty", "nul-in-key", "nul-in-string", "nul-deep", "nul-in-nested-key"],
)
def test_a_json_object_fits_the_schema_exactly_when_the_library_takes_it(value: Any):
    """PostgreSQL cannot store a NUL character: the document says so where the library does."""
    try:
        actions.json_value(value, "The output")
        taken = True
    except SagaDefinitionError:
        taken = False
    assert fits("JsonObject", value) is taken
