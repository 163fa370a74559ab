"""django_saga.conf.rules: the further rules of particular settings: a list of broker
URLs, a list of webhook secrets."""

from __future__ import annotations

import pytest

from django_saga.conf import saga_settings
from tests.unit.conf.helpers import saga


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([], "must not be empty"),
        ("  ", "must not be empty"),
        (["amqp://mq1/%2F", 5672], "must hold strings only"),
        (
            ["amqp://u:secret@mq1/%2F", "redis://u:secret@mq2"],
            "must start with amqp://, amqps:// or memory:// (not 'redis://u:***@mq2')",
        ),
        (["amqp://mq1:0/%2F", "amqp://mq2/%2F"], "its port must not be 0"),
        (["memory://a", "amqp://mq2/%2F"], "cannot be listed with others"),
    ],
)
def test_a_bad_list_of_broker_urls_is_reported_without_passwords(settings, value, problem):
    saga(settings, BROKER_URL=value)
    problems = saga_settings.validate()
    assert len(problems) == 1
    assert problems[0].startswith("SAGA['BROKER_URL'] = ")
    assert problems[0].endswith(problem)
    assert "secret" not in problems[0]


def test_a_secret_list_with_a_non_string_is_a_bad_setting(settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": ["ok", 3]}
    assert any("WEBHOOK_SECRET" in p for p in saga_settings.validate())
