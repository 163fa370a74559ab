"""What ``manage.py saga`` reads from its command line: rates, ages, JSON
objects, counts, states and who acts, each refused naming its option."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from django_saga.management.commands import saga as saga_command
from tests.factories import halted_saga
from tests.unit.management.operator_cli.helpers import DEEP_FIELD, nothing_changed
from tests.unit.management.operator_cli.helpers import saga as saga_cli


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("5/s", 5), ("5", 5), ("0.5/s", 0.5), ("30/m", 0.5), (" 2 / s ", 2), ("7200/h", 2)],
)
def test_a_rate_is_sagas_a_second_or_a_minute(text, per_second):
    assert saga_command.parse_rate(text) == per_second


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("command", "option"), [("retry-step", "--input"), ("skip-step", "--output")]
)
@pytest.mark.parametrize("from_file", [True, False], ids=["file", "argument"])
def test_the_command_refuses_json_nested_too_deep_naming_the_option(
    tmp_path, command, option, from_file
):
    saga = halted_saga()
    given = DEEP_FIELD.replace('"reason": "fixed", "input": ', '"a": ')
    if from_file:
        path = tmp_path / "deep.json"
        path.write_text(given)
        given = f"@{path}"
    with pytest.raises(CommandError) as info:
        saga_cli(command, saga.pk, "ship", option, given, "--reason", "fixed")
    assert str(info.value).startswith(f"{option} is nested too deep to read")
    assert "SAGA['MAX_JSON_DEPTH']" in str(info.value)
    nothing_changed(saga)


@pytest.mark.django_db
def test_the_command_refuses_a_file_that_is_not_unicode_naming_the_option(tmp_path):
    saga = halted_saga()
    path = tmp_path / "latin1.json"
    path.write_bytes('{"city": "Orléans"}'.encode("latin-1"))
    with pytest.raises(CommandError) as info:
        saga_cli("retry-step", saga.pk, "ship", "--input", f"@{path}", "--reason", "fixed")
    assert str(info.value).startswith("--input is not JSON: 'utf-8' codec can't decode")
    nothing_changed(saga)
