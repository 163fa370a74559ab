"""django_saga.console.openapi (its ``document()``): one valid OpenAPI 3.1 document,
made for the project that serves it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from django_saga.console import openapi
from tests.unit.console.openapi.helpers import DOC


def test_the_document_is_valid_openapi_3_1():
    validate(DOC, cls=OpenAPIV31SpecValidator)
    assert DOC["openapi"].startswith("3.1.")


def test_the_document_is_made_for_the_projects_prefix_cookies_and_header():
    doc = openapi.document(
        server="/shop/ops", session_cookie="s_id", csrf_cookie="c_tok", csrf_header="X-C-Tok"
    )
    assert doc["servers"][0]["url"] == "/shop/ops"
    description = doc["info"]["description"]
    assert "`s_id` cookie" in description and "`c_tok` cookie" in description
    assert "`X-C-Tok` header" in description
    assert doc["components"]["securitySchemes"]["csrfToken"]["name"] == "X-C-Tok"
    assert "`sessionid`" not in description and "X-CSRFToken" not in description


def test_the_document_carries_the_installed_version():
    try:
        installed = version("django-saga")
    except PackageNotFoundError:  # a checkout that is not installed
        installed = "unknown"
    assert DOC["info"]["version"] == installed


def test_every_operation_is_tagged_with_a_declared_tag_and_every_tag_is_used():
    declared = [tag["name"] for tag in DOC["tags"]]
    used = {
        tag
        for operations in DOC["paths"].values()
        for method, operation in operations.items()
        if method != "parameters"
        for tag in operation["tags"]
    }
    assert len(declared) == len(set(declared))
    assert used == set(declared)


def test_each_document_is_the_callers_own_to_change():
    first = openapi.document()
    first["components"]["schemas"]["ReasonBody"]["properties"]["reason"]["maxLength"] = 1
    first["paths"].clear()
    second = openapi.document()
    assert second["components"]["schemas"]["ReasonBody"]["properties"]["reason"]["maxLength"] > 1
    assert second["paths"]
