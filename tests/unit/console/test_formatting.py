"""Durations, progress and JSON as the console and the admin show them; stored
text as a terminal shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from django_saga.console.formatting import (
    ago,
    format_duration,
    from_now,
    json_kind,
    pretty_json,
    progress_text,
    saga_duration,
    terminal_text,
)
from django_saga.models import Saga
from tests.unit.console.helpers import build_saga
from tests.unit.management.operator_cli.helpers import NOT_SHOWN, RETITLE, RLO, escape_of

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.25, "250 ms"),
        (12.34, "12.3 s"),
        (180, "3 min"),
        (185, "3 min 5 s"),
        (2 * 3600, "2 h"),
        (47 * 3600 + 59 * 60, "47 h 59 min"),
        (49 * 3600, "2 d 1 h"),
    ],
)
def test_a_duration_is_shown_in_its_two_largest_units(seconds, shown):
    assert format_duration(timedelta(seconds=seconds)) == shown


def test_no_duration_is_a_dash():
    assert format_duration(None) == "—"


def test_ago_is_just_now_under_a_minute_then_its_largest_unit():
    assert ago(NOW - timedelta(seconds=59), NOW) == "just now"
    assert ago(NOW - timedelta(hours=3, minutes=5), NOW) == "3\xa0hours ago"


def test_a_time_to_come_is_in_its_largest_unit_now_within_a_minute_and_ago_once_past():
    assert from_now(NOW + timedelta(hours=3, minutes=5), NOW) == "in 3\xa0hours"
    assert from_now(NOW + timedelta(days=1, hours=2), NOW) == "in 1\xa0day"
    assert from_now(NOW + timedelta(seconds=59), NOW) == "now"
    assert from_now(NOW - timedelta(seconds=59), NOW) == "now"
    assert from_now(NOW - timedelta(hours=2), NOW) == "2\xa0hours ago"


@pytest.mark.django_db
def test_a_sagas_duration_ends_when_it_did_now_while_active_else_at_its_last_change():
    done = build_saga("completed")
    Saga.objects.filter(pk=done.pk).update(created_at=NOW - timedelta(minutes=5), completed_at=NOW)
    done.refresh_from_db()
    assert saga_duration(done, NOW + timedelta(days=1)) == timedelta(minutes=5)

    active = build_saga("started")
    Saga.objects.filter(pk=active.pk).update(created_at=NOW - timedelta(seconds=30))
    active.refresh_from_db()
    assert saga_duration(active, NOW) == timedelta(seconds=30)

    failed = build_saga("failed")
    Saga.objects.filter(pk=failed.pk).update(
        created_at=NOW - timedelta(hours=1), updated_at=NOW - timedelta(minutes=20)
    )
    failed.refresh_from_db()
    assert saga_duration(failed, NOW) == timedelta(minutes=40)
    # A clock that went back never makes a negative duration.
    assert saga_duration(active, NOW - timedelta(hours=1)) == timedelta(0)


@pytest.mark.django_db
def test_progress_counts_the_steps_that_ran_with_or_without_annotations():
    saga = build_saga("failed")
    assert progress_text(saga) == "1/2 steps"
    saga.steps_total, saga.steps_done = 1, 1  # type: ignore[attr-defined]
    assert progress_text(saga) == "1/1 step"


def test_pretty_json_is_indented_sorted_and_keeps_what_json_cannot_spell():
    value = {"b": [1, 2], "a": "Orléans", "at": NOW, "amount": Decimal("12.50")}
    assert pretty_json(value) == (
        "{\n"
        '  "a": "Orléans",\n'
        '  "amount": "12.50",\n'
        '  "at": "2025-03-01T12:00:00Z",\n'
        '  "b": [\n'
        "    1,\n"
        "    2\n"
        "  ]\n"
        "}"
    )


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ({}, "an object"),
        ([], "an array"),
        ("x", "a string"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (1.5, "a number"),
        (0, "a number"),
    ],
)
def test_a_json_value_is_named_in_words(value, kind):
    assert json_kind(value) == kind


def test_terminal_text_writes_what_a_terminal_would_obey_as_escapes():
    assert terminal_text("order\x1b]0;owned\x07") == "order\\x1b]0;owned\\x07"
    assert terminal_text("inv\u202efdp.exe") == "inv\\u202efdp.exe"
    assert terminal_text("Orléans → 東京") == "Orléans → 東京"
    assert terminal_text(terminal_text("\x9b2J")) == "\\x9b2J"
    assert terminal_text(42) == "42"


@pytest.mark.parametrize("char", NOT_SHOWN, ids=escape_of)
def test_every_control_and_bidi_character_is_printed_as_its_escape(char):
    assert terminal_text(f"a{char}b") == f"a{escape_of(char)}b"


def test_text_a_terminal_shows_as_it_is_is_printed_as_it_is():
    text = "Orléans → 東京 🚚 ~ C:\\orders\\x1b (a backslash is text)"
    assert terminal_text(text) == text
    assert terminal_text(terminal_text(f"{RETITLE}{RLO}")) == "\\x1b]0;owned\\x07\\u202e"
    assert terminal_text("\ud800") == "\\ud800"  # a lone surrogate no encoding takes
