"""django_saga.console.json_api: the JSON endpoints, each answer one the OpenAPI
document lists, and the document served as the project names its cookies."""

from __future__ import annotations

import pytest
from django.test import Client
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from django_saga.console import openapi
from django_saga.models import Saga
from tests.fuzz.strategies import snapshot
from tests.unit.console.api_helpers import (
    OPENAPI_URL,
    World,
    api,
    create_token,
    make_user,
    make_world,
    post_json,
    reason,
)
from tests.unit.console.helpers import VIEW
from tests.unit.console.openapi.helpers import API_EXCHANGES, API_WITH_SETTINGS, assert_conforms


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
    before = snapshot()
    response = call(world)
    assert response.status_code == status, response.content[:300]
    body = assert_conforms(response, path, method)
    if code is not None:
        assert body["error"] == code
    if status >= 400:
        assert snapshot() == before, "a refused request wrote something"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "status", "code", "call", "overrides"),
    [pytest.param(*row[1:], id=row[0]) for row in API_WITH_SETTINGS],
)
def test_each_answer_a_setting_brings_is_one_the_document_lists(
    world, settings, path, method, status, code, call, overrides
):
    for name, value in overrides.items():
        setattr(settings, name, {**settings.SAGA, **value} if name == "SAGA" else value)
    before = snapshot()
    response = call(world)
    assert response.status_code == status, response.content[:300]
    assert assert_conforms(response, path, method)["error"] == code
    assert snapshot() == before, "a refused request wrote something"


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
