"""django_saga.conf.declarations: the floors and ceilings the settings declare, and why;
BROKER_PASSWORD, which Django's error pages hide."""

from __future__ import annotations

import sys

import pytest
from django.test import RequestFactory
from django.views.debug import technical_500_response

from django_saga.checks import check_settings
from django_saga.conf import saga_settings
from tests.unit.conf.helpers import PASSWORD, saga

SECRET_32 = "k" * 31 + "!"


@pytest.mark.parametrize(
    ("key", "value", "problem", "why"),
    [
        ("WEBHOOK_SECRET", "x", "must be at least 32 characters", "offline"),
        ("WEBHOOK_SECRET", " " * 40, "must not be only spaces", "turns it off"),
        ("WEBHOOK_SECRET", [SECRET_32, "short-old-secret"], "must be at least 32", "offline"),
        ("METRICS_TOKEN", "   ", "must hold no spaces", "header"),
        ("METRICS_TOKEN", "t0ken", "must be at least 16 characters", "guess"),
        ("METRICS_TOKEN", "a-long-token with a space", "must hold no spaces", "header"),
        ("PREFETCH", 70000, "must be at most 65,535", "16 bits"),
        ("HEARTBEAT", 65536, "must be at most 65,535", "16 bits"),
        ("MAX_JSON_BYTES", 2**63, "must be at most 67,108,864", "jsonb"),
        ("MAX_JSON_DEPTH", 100_000, "must be at most 256", "recursion"),
    ],
    ids=[
        "one-character-secret",
        "blank-secret",
        "short-secret-while-rotating",
        "blank-token",
        "short-token",
        "token-with-a-space",
        "prefetch",
        "heartbeat",
        "json-bytes",
        "json-depth",
    ],
)
def test_a_value_past_a_settings_floor_or_ceiling_is_named_with_why(
    settings, key, value, problem, why
):
    saga(settings, **{key: value})
    [message] = saga_settings.validate()
    assert message.startswith(f"SAGA[{key!r}] = ")
    assert problem in message and why in message
    assert [e.id for e in check_settings()] == ["django_saga.E001"]
    if key in ("WEBHOOK_SECRET", "METRICS_TOKEN"):
        assert "<hidden" in message
        assert "short-old-secret" not in message and "t0ken" not in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("WEBHOOK_SECRET", ""),
        ("WEBHOOK_SECRET", SECRET_32),
        ("WEBHOOK_SECRET", [SECRET_32, ""]),
        ("METRICS_TOKEN", ""),
        ("METRICS_TOKEN", "0123456789abcdef"),
        ("PREFETCH", 65535),
        ("HEARTBEAT", 0),
        ("MAX_JSON_BYTES", 64 * 1024 * 1024),
        ("MAX_JSON_DEPTH", 256),
    ],
)
def test_values_at_a_settings_floor_or_ceiling_are_accepted(settings, key, value):
    saga(settings, **{key: value})
    assert saga_settings.validate() == []


def test_with_broker_password_the_debug_page_shows_no_password(settings):
    settings.DEBUG = True
    settings.SAGA = {
        **settings.SAGA,
        "BROKER_URL": "amqp://saga@mq.internal:5672/%2F",
        "BROKER_PASSWORD": PASSWORD,
    }
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        page = technical_500_response(RequestFactory().get("/"), *sys.exc_info()).content
    html = page.decode()
    assert "amqp://saga@mq.internal:5672/%2F" in html  # the settings are on the page ...
    assert PASSWORD not in html  # ... but not the password
