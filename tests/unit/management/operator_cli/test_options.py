"""What ``manage.py saga`` reads from its command line: rates, ages, JSON
objects, counts, states and who acts, each refused naming its option."""

from __future__ import annotations

import pytest

from django_saga.management.commands import saga as saga_command


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("5/s", 5), ("5", 5), ("0.5/s", 0.5), ("30/m", 0.5), (" 2 / s ", 2), ("7200/h", 2)],
)
def test_a_rate_is_sagas_a_second_or_a_minute(text, per_second):
    assert saga_command.parse_rate(text) == per_second
