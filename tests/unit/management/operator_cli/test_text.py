"""How ``manage.py saga`` prints: one-line cells, aligned tables, times, counts
and attempts, whatever the stored text holds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from django_saga.management.operator_cli.text import (
    attempt_line,
    brief_json,
    one_line,
    seconds,
    state_counts,
    table,
    when,
)

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_cell_is_one_line_its_controls_shown_cut_to_its_width():
    assert one_line("  card\n\tdeclined \r\n", 40) == "card declined"
    assert one_line("x\x1b[2Jy", 40) == "x\\x1b[2Jy"
    assert one_line("abc", 3) == "abc"
    cut = one_line("a" * 50, 10)
    assert cut == "aaaaaaa..." and len(cut) == 10
    # Cut after the escaping: an escape counts as the characters it is shown with.
    assert one_line("\x1b" * 5, 10) == "\\x1b\\x1..."


def test_brief_json_is_one_sorted_line_and_takes_dates():
    assert brief_json({"b": 1, "a": [1, 2]}) == '{"a": [1, 2], "b": 1}'
    assert brief_json({"at": AT}) == '{"at": "2025-01-02T03:04:05Z"}'
    long = brief_json({"note": "x" * 100}, 20)
    assert len(long) == 20 and long.endswith("...")


def test_a_table_lines_up_its_columns_after_escaping_and_pads_no_last_column():
    lines = table(("ID", "NAME", "STATE"), [("1", "a\x1bb", "halted"), ("22", "order", "x")])
    assert lines == [
        "ID  NAME    STATE",
        "1   a\\x1bb  halted",
        "22  order   x",
    ]


def test_a_time_is_shown_to_the_second_in_the_projects_time_zone():
    assert when(None) == "-"
    assert when(AT) == "2025-01-02 03:04:05"
    with timezone.override(ZoneInfo("Asia/Tokyo")):
        assert when(AT) == "2025-01-02 12:04:05"
    assert when(datetime(2025, 1, 2, 3, 4, 5, 999)) == "2025-01-02 03:04:05"


def test_state_counts_follow_the_states_own_order_and_skip_the_empty_ones():
    counts = Counter({"halted": 1, "completed": 1234, "failed": 0, "started": 2})
    assert state_counts(counts) == "2 started, 1,234 completed, 1 halted"
    assert state_counts({}) == ""


def test_an_attempt_line_says_what_ran_when_how_long_why_it_failed_and_who_acted():
    entry = {
        "kind": "execute",
        "attempt": 2,
        "outcome": "failed",
        "at": AT.isoformat(),
        "duration_ms": 12,
        "error": "carrier down\nretry later",
    }
    assert attempt_line(entry) == (
        "execute #2 failed at 2025-01-02 03:04:05 (12 ms): carrier down retry later"
    )
    resumed = {"kind": "execute", "attempt": 2, "outcome": "resumed", "by": "al", "reason": "up"}
    assert attempt_line(resumed) == "execute #2 resumed [by al: up]"
    assert attempt_line({**resumed, "by": None}) == "execute #2 resumed [up]"
    # A time that is not ISO 8601 is shown as it was stored.
    unread = attempt_line({**resumed, "at": "yesterday"})
    assert unread == "execute #2 resumed at yesterday [by al: up]"


def test_seconds_read_as_a_duration():
    assert seconds(0.25) == "250 ms"
    assert seconds(2.5) == "2.5 s"
    assert seconds(90) == "1 min 30 s"
