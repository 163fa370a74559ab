"""django_saga.conf.setting: one declaration's check of a value's type, bounds and choices."""

from __future__ import annotations

import pytest

from django_saga.checks import check_settings
from django_saga.conf import saga_settings
from tests.unit.conf.helpers import saga


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("PREFETCH", 0, "SAGA['PREFETCH'] = 0: must be greater than zero"),
        ("PREFETCH", -2, "SAGA['PREFETCH'] = -2: must be greater than zero"),
        ("CONCURRENCY", "4", "SAGA['CONCURRENCY'] = '4': expected int, got str"),
        ("CONCURRENCY", True, "SAGA['CONCURRENCY'] = True: expected int, got bool"),
        ("RELAY_INTERVAL", 0.0, "SAGA['RELAY_INTERVAL'] = 0.0: must be greater than zero"),
        ("HEARTBEAT", -1, "SAGA['HEARTBEAT'] = -1: must not be negative"),
        ("QUEUE_TYPE", "fancy", "SAGA['QUEUE_TYPE'] = 'fancy': must be one of classic, quorum"),
        ("EXCHANGE", "", "SAGA['EXCHANGE'] = '': must not be empty"),
        ("AUTO_COMPENSATE", "yes", "SAGA['AUTO_COMPENSATE'] = 'yes': expected bool, got str"),
        (
            "WEBHOOK_TOLERANCE",
            float("nan"),
            "SAGA['WEBHOOK_TOLERANCE'] = nan: must be a number, not NaN",
        ),
        (
            "WEBHOOK_TOLERANCE",
            float("inf"),
            "SAGA['WEBHOOK_TOLERANCE'] = inf: must be a finite number of seconds",
        ),
        (
            "WEBHOOK_TOLERANCE",
            "300",
            "SAGA['WEBHOOK_TOLERANCE'] = '300': expected int or float, got str",
        ),
        (
            "BROKER_URL",
            "redis://x",
            "SAGA['BROKER_URL'] = 'redis://x': must start with amqp://, amqps:// or memory://",
        ),
    ],
)
def test_each_bad_value_is_reported_naming_the_key(settings, key, value, expected):
    saga(settings, **{key: value})
    assert saga_settings.validate() == [expected]
    errors = check_settings()
    assert [(e.id, e.msg) for e in errors] == [("django_saga.E001", expected)]
    assert errors[0].hint


def test_a_bool_in_a_string_setting_says_a_string_is_expected(settings):
    saga(settings, EXCHANGE=True)
    assert saga_settings.validate() == ["SAGA['EXCHANGE'] = True: expected str, got bool"]
