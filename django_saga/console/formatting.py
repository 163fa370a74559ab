"""Durations, times to come, progress and JSON as the console and the admin
show them; stored text as a terminal shows it."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.timesince import timesince, timeuntil

from .. import clock
from ..models import ACTIVE_STATES, Saga, StepStatus

#: Step statuses of a step whose action ran to completion (and may since be undone).
RAN = (
    StepStatus.COMPLETED,
    StepStatus.SKIPPED,
    StepStatus.COMPENSATING,
    StepStatus.COMPENSATED,
    StepStatus.COMPENSATION_FAILED,
)


def progress_text(saga: Saga) -> str:
    """``"2/3 steps"`` from the annotations of ``with_progress`` (or the steps)."""
    total = getattr(saga, "steps_total", None)
    done = getattr(saga, "steps_done", None)
    if total is None or done is None:
        steps = saga.steps
        total = len(steps)
        done = sum(1 for s in steps if s.status in RAN)
    return format_progress(done, total)


def format_progress(done: int, total: int) -> str:
    return f"{done}/{total} step" + ("" if total == 1 else "s")


def saga_duration(saga: Saga, now: datetime | None = None) -> timedelta:
    """Start to end; so far for an active saga; until the last change otherwise."""
    if saga.completed_at is not None:
        end = saga.completed_at
    elif saga.state in ACTIVE_STATES:
        end = now or clock.now()
    else:
        end = saga.updated_at
    return max(end - saga.created_at, timedelta(0))


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return _units(minutes, "min", secs, "s")
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _units(hours, "h", minutes, "min")
    days, hours = divmod(hours, 24)
    return _units(days, "d", hours, "h")


def _units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    """``"3 min 4 s"``, or ``"3 min"`` when the smaller unit is zero."""
    return f"{big} {big_unit}" + (f" {small} {small_unit}" if small else "")


def ago(moment: datetime, now: datetime | None = None) -> str:
    """``"just now"`` under a minute, else ``"3 h ago"`` (the largest unit only)."""
    elapsed = (now or clock.now()) - moment
    if elapsed < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def from_now(moment: datetime, now: datetime | None = None) -> str:
    """``"in 3 hours"`` (the largest unit only), ``"now"`` within a minute either
    way, and ``"3 hours ago"`` for a time that passed (a tick overdue)."""
    now = now or clock.now()
    if abs(moment - now) < timedelta(minutes=1):
        return "now"
    if moment < now:
        return ago(moment, now)
    return f"in {timeuntil(moment, now, depth=1)}"


def pretty_json(value: Any) -> str:
    """Indented JSON text (escaped by the template or ``format_html`` that shows it)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, in words: ``"an array"``, ``"a string"`` ..."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return "a number"


#: What a terminal acts on, or reorders the text around, instead of showing:
#: the C0 controls (ESC starts a sequence that retitles or clears the screen,
#: CR returns to the line's start, BEL rings), DEL, the C1 controls (U+009B
#: starts a sequence too), the bidi marks, embeddings, overrides and isolates,
#: the line and paragraph separators, and lone surrogates (which no output
#: encoding takes).
_NOT_SHOWN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_text(value: object) -> str:
    """``value`` as text, each character a terminal would act on written as an escape.

    ESC, BEL and a right-to-left override come out as the escapes
    ``\\x1b``, ``\\x07`` and ``\\u202e``: stored text (a name, a key, an
    error that came from outside) can neither drive the operator's terminal
    nor reorder what it shows. Everything else, accents and other scripts
    included, is left as it is; a backslash is not doubled. Idempotent: the
    result holds nothing left to escape.
    """
    return _NOT_SHOWN.sub(_visible, str(value))
