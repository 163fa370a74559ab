"""The SagaStep model: its idempotency key and the report token an outside result carries."""

from __future__ import annotations

import pytest

from django_saga.models import SagaStep
from django_saga.models.step import REPORT_TOKEN_CHARS


def step(**fields: object) -> SagaStep:
    values: dict[str, object] = {
        "id": "01J000000000000000000STEP1",
        "saga_id": "01J000000000000000000SAGA1",
        "name": "charge",
        "action": "payments.charge",
        "status": "waiting",
        "attempts": 1,
    }
    return SagaStep(**{**values, **fields})


def test_str_names_the_step_its_action_and_status():
    assert str(step()) == "charge (payments.charge): waiting"


def test_the_idempotency_key_is_the_saga_and_step_ids_whatever_the_attempt():
    key = "01J000000000000000000SAGA1:01J000000000000000000STEP1"
    assert step().idempotency_key == key
    assert step(attempts=5, status="started").idempotency_key == key


def test_a_report_token_is_hex_of_its_length_and_differs_by_step_and_attempt():
    token = step().report_token
    assert len(token) == REPORT_TOKEN_CHARS == 32
    int(token, 16)
    assert step().report_token == token  # computed, the same every time
    assert step(attempts=2).report_token != token
    assert step(id="01J000000000000000000STEP2").report_token != token
    assert step(saga_id="01J000000000000000000SAGA2").report_token != token


def test_a_step_accepts_its_token_for_the_attempt_asked_about_only():
    first = step(attempts=1).report_token
    now = step(attempts=2)
    assert now.accepts_report_token(now.report_token)
    assert not now.accepts_report_token(first)
    assert now.accepts_report_token(first, attempt=1)
    assert not now.accepts_report_token(now.report_token, attempt=1)


def test_the_token_follows_the_secret_key_and_its_fallbacks(settings):
    old_key, before = settings.SECRET_KEY, step().report_token
    settings.SECRET_KEY = "a-new-key"
    assert step().report_token != before
    assert not step().accepts_report_token(before)
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert step().accepts_report_token(before)


@pytest.mark.parametrize("token", [None, 32, b"0" * 32, "", "é" * 32, "0" * 31])
def test_anything_but_the_token_is_refused_without_an_error(token):
    assert step().accepts_report_token(token) is False
