"""What ``manage.py saga`` reads from its command line: rates, ages, JSON
objects, counts, states and who acts, each refused naming its option."""

from __future__ import annotations

import argparse
import getpass
import re
import socket
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from django_saga.management.commands import saga as saga_command
from django_saga.management.operator_cli import options
from django_saga.models import WAITING_FOR_OPERATOR as WAITING
from django_saga.models import Intervention
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


# -- states, counts, ages ------------------------------------------------------------
def test_states_are_given_once_or_more_each_a_comma_list_kept_in_order_once():
    given = ["halted, failed", "halted", " compensation_failed ,"]
    assert options.parse_states(given, WAITING, "states") == [
        "halted",
        "failed",
        "compensation_failed",
    ]
    assert options.parse_states(None, WAITING, "states") == []


def test_every_state_not_allowed_is_named_with_the_ones_that_are():
    with pytest.raises(CommandError) as info:
        options.parse_states(["done,halted", "gone"], WAITING, "the states a re-drive takes")
    assert str(info.value) == (
        "--state 'done', 'gone': the states a re-drive takes are failed, halted, "
        "compensation_failed"
    )


def test_a_count_is_a_whole_number_from_one_to_its_maximum():
    up_to_ten = options.how_many(10)
    assert up_to_ten("1") == 1 and up_to_ten("10") == 10
    for text, message in [
        ("11", "give 1 to 10, not 11"),
        ("0", "give 1 to 10, not 0"),
        ("1.5", "'1.5' is not a whole number"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
            up_to_ten(text)
    with pytest.raises(argparse.ArgumentTypeError, match="give 1 or more, not -3"):
        options.how_many()("-3")
    assert options.how_many()("20000") == 20000


def test_an_age_is_read_naming_its_option():
    assert options.parse_age(None, "--timeout") is None
    assert options.parse_age("15m", "--timeout") == timedelta(minutes=15)
    assert options.parse_age("2w", "--older-than") == timedelta(days=14)
    with pytest.raises(CommandError, match=r"^--timeout 'soon' is not an age"):
        options.parse_age("soon", "--timeout")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "command",
    [
        ("saga_purge", "--older-than", "999999d"),
        ("saga", "list", "--older-than", "999999d"),
        ("saga", "redrive", "--rate", "1/s", "--older-than", "999999d", "--reason", "r"),
    ],
    ids=["saga_purge", "saga-list", "saga-redrive"],
)
def test_commands_refuse_an_age_far_in_the_past_naming_the_option(command):
    with pytest.raises(CommandError, match="--older-than '999999d' is over the limit"):
        call_command(*command)


# -- JSON objects --------------------------------------------------------------------
def test_a_json_object_is_given_inline_or_from_a_file(tmp_path):
    assert options.parse_json(None, "--input") is None
    assert options.parse_json('{"ok": true}', "--output") == {"ok": True}
    source = tmp_path / "input.json"
    source.write_text('{"city": "Orléans"}', encoding="utf-8")
    assert options.parse_json(f"@{source}", "--input") == {"city": "Orléans"}


def test_a_file_that_cannot_be_read_is_refused_saying_why(tmp_path):
    with pytest.raises(CommandError) as info:
        options.parse_json(f"@{tmp_path}", "--input")
    assert str(info.value) == f"--input: cannot read {tmp_path}: Is a directory"


# -- who acts ------------------------------------------------------------------------
def test_a_name_given_with_by_is_marked_and_fits_the_trail():
    assert options.named_on_command_line("ops") == "ops (named on the command line)"
    longest = options.named_on_command_line("x" * options.BY_MAX_CHARS)
    assert len(longest) <= Intervention._meta.get_field("actor").max_length


def test_by_default_the_shell_user_at_the_host_acts(monkeypatch):
    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    monkeypatch.setattr(socket, "gethostname", lambda: "web-1")
    assert options.default_actor() == "alice@web-1 (command line)"


def test_a_process_whose_user_has_no_name_acts_as_unknown_cut_to_the_trails_width(
    monkeypatch,
):
    def nameless() -> str:
        raise KeyError("getpwuid(): uid not found: 1234")

    monkeypatch.setattr(getpass, "getuser", nameless)
    monkeypatch.setattr(socket, "gethostname", lambda: "h" * 300)
    actor = options.default_actor()
    assert actor.startswith("unknown@hhh")
    assert len(actor) == Intervention._meta.get_field("actor").max_length == 200
