"""The time django-saga reads. Tests replace ``now`` to move time without sleeping."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

#: The longest span django-saga schedules: a timeout, a deadline, a retry delay (366 days).
MAX_SECONDS = 366 * 24 * 3600.0


#: A test clock (``django_saga.testing``) that stands in for the system's, or None.
#: Unlike replacing ``now``, it is also the time the store compares due
#: timeouts and deadlines with, which no test could move on the database.
source: Callable[[], datetime] | None = None


def now() -> datetime:
    return timezone.now() if source is None else source()


def replaced() -> bool:
    """Whether a test clock stands in for the system's (see ``source``)."""
    return source is not None


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
