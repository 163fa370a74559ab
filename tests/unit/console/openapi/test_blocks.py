"""django_saga.console.openapi.blocks: the error codes, the webhook's names and the
text patterns the document is built from are the code's own."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from django_saga import actions, validation, webhook
from django_saga.console import openapi
from django_saga.errors import SagaDefinitionError
from tests.unit.console.openapi.helpers import DOC


def _codes_in(*modules: Any) -> set[tuple[int, str]]:
    pattern = re.compile(r'json_error\(\s*(\d{3}),\s*"([a-z_]+)"')
    found = set()
    for module in modules:
        text = Path(module.__file__).read_text()
        found |= {(int(status), code) for status, code in pattern.findall(text)}
    return found


def test_every_error_code_the_code_answers_is_in_the_document():
    from django_saga.console import access, json_api, schedule_api, task_api

    def listed(errors: dict[int, tuple[str, ...]]) -> set[tuple[int, str]]:
        return {(status, code) for status, codes in errors.items() for code in codes}

    assert _codes_in(json_api, access, schedule_api, task_api) == listed(openapi.API_ERRORS)
    assert _codes_in(webhook) == listed(openapi.WEBHOOK_ERRORS)


def test_the_webhooks_headers_and_fields_are_the_documents():
    report = DOC["components"]["schemas"]["StepReport"]
    assert set(report["properties"]) == webhook.FIELDS
    assert openapi.WEBHOOK_TIMESTAMP_HEADER == webhook.TIMESTAMP_HEADER
    assert openapi.WEBHOOK_SIGNATURE_HEADER == webhook.SIGNATURE_HEADER
    assert openapi.WEBHOOK_TOKEN_MAX_CHARS == webhook.TOKEN_MAX_CHARS
    headers = {p["name"] for p in DOC["paths"]["/webhook/"]["post"]["parameters"]}
    assert headers == {webhook.TIMESTAMP_HEADER, webhook.SIGNATURE_HEADER}


def _refuses(check: Callable[[str], object], text: str) -> bool:
    try:
        check(text)
    except SagaDefinitionError:
        return True
    return False


@pytest.mark.parametrize(
    ("pattern", "check"),
    [
        (openapi.PROSE_PATTERN, lambda text: actions.reason_text(text, required=True)),
        (
            openapi.LABEL_PATTERN,
            lambda text: validation.text(text, "key", None, plain=validation.LABEL),
        ),
    ],
    ids=["reason", "name-or-key"],
)
def test_the_documents_text_patterns_refuse_what_validation_refuses(pattern, check):
    """Each character of the Basic Multilingual Plane, alone and inside a word:
    the pattern accepts it exactly when the library does."""
    compiled = re.compile(pattern)
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # no JSON text carries a lone surrogate to the pattern
        for text in (chr(code), f"a{chr(code)}b"):
            assert (compiled.search(text) is None) == _refuses(check, text), repr(text)
