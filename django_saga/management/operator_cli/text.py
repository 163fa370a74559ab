"""How ``manage.py saga`` prints: one-line cells, tables, times and counts,
every character a terminal would act on shown as an escape."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from django_saga.console.formatting import format_duration, terminal_text
from django_saga.models import SagaState

#: Spaces, tabs and line ends: one space each run in a one-line cell.
_BLANKS = re.compile(r"[ \t\r\n]+")


def one_line(value: object, width: int) -> str:
    """``value`` on one line, its controls made visible, cut to ``width`` characters."""
    text = terminal_text(_BLANKS.sub(" ", str(value)).strip())
    return text if len(text) <= width else text[: width - 3] + "..."


def brief_json(value: Any, width: int = 40) -> str:
    return one_line(json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder), width)


def when(moment: datetime | None) -> str:
    """A time in the project's time zone, to the second."""
    if moment is None:
        return "-"
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Columns padded to their widest cell; the last one is not padded.

    Each cell's controls are made visible before it is measured, so that the
    columns line up whatever the cells hold.
    """
    cells = [list(map(terminal_text, row)) for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *cells]
    ]


def state_counts(counts: Counter[str] | dict[str, int]) -> str:
    """``"3 completed, 1 halted"``, in the states' own order."""
    return ", ".join(
        f"{counts[state]:,} {state}" for state in SagaState.values if counts.get(state)
    )


def attempt_line(entry: dict[str, Any]) -> str:
    """One entry of a step's history: ``execute #2 failed at ... (12 ms): error``."""
    text = f"{entry.get('kind', '')} #{entry.get('attempt', '')} {entry.get('outcome', '')}"
    at = entry.get("at")
    if isinstance(at, str):
        try:
            text += f" at {when(datetime.fromisoformat(at))}"
        except ValueError:
            text += f" at {at}"
    if entry.get("duration_ms") is not None:
        text += f" ({entry['duration_ms']} ms)"
    if entry.get("error"):
        text += f": {one_line(entry['error'], 120)}"
    if entry.get("by"):
        text += (
            f" [by {entry['by']}" + (f": {entry['reason']}" if entry.get("reason") else "") + "]"
        )
    elif entry.get("reason"):
        text += f" [{entry['reason']}]"
    return text


def seconds(value: float) -> str:
    return format_duration(timedelta(seconds=value))
