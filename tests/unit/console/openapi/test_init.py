"""django_saga.console.openapi (its ``document()``): one valid OpenAPI 3.1 document."""

from __future__ import annotations

from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from tests.unit.console.openapi.helpers import DOC


def test_the_document_is_valid_openapi_3_1():
    validate(DOC, cls=OpenAPIV31SpecValidator)
    assert DOC["openapi"].startswith("3.1.")
