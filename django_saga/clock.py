"""The time django-saga reads. A test clock may stand in for it, in one context only."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.utils import timezone

#: The longest span django-saga schedules: a timeout, a deadline, a retry delay (366 days).
MAX_SECONDS = 366 * 24 * 3600.0

Source = Callable[[], datetime]

#: A test clock (``django_saga.testing``) that stands in for the system's, or
#: None. A context variable, not a module global: it is seen by the thread (or
#: asyncio task) that set it and by what that one calls, never by another
#: thread, such as an engine's or a parallel test's. Unlike replacing ``now``,
#: it is also the time the store compares due timeouts and deadlines with,
#: which no test could move on the database.
_source: ContextVar[Source | None] = ContextVar("django_saga.clock.source", default=None)


def now() -> datetime:
    source = _source.get()
    return timezone.now() if source is None else source()


def replaced() -> bool:
    """Whether a test clock stands in for the system's here (see ``set_source``)."""
    return _source.get() is not None


def set_source(source: Source | None) -> Source | None:
    """Make ``source`` the time django-saga reads in the current context (None:
    the system's again), and return the one it replaces.

    Other threads keep theirs. Put the returned one back to undo it, from the
    same thread.
    """
    previous = _source.get()
    _source.set(source)
    return previous


def later(seconds: float, start: datetime | None = None) -> datetime:
    """``start`` (default: now) plus ``seconds``, clamped to ``0 .. MAX_SECONDS``.

    Every scheduled time goes through here. Callers' values are checked when
    they come in, so the clamp only matters for rows written before those
    checks existed or a setting changed under a running engine: a time
    computed inside a step's transaction must never raise, or the step that
    just ran would be retried and recorded as failed.
    """
    if not math.isfinite(seconds):
        seconds = 0.0 if math.isnan(seconds) or seconds < 0 else MAX_SECONDS
    seconds = min(max(seconds, 0.0), MAX_SECONDS)
    return (start or now()) + timedelta(seconds=seconds)
