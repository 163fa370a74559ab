"""The kit's control of time: a test clock that moves only when told, and
retry delays exactly as the policies say (no jitter).

Both hold in the context (the thread) that took them over, and nowhere else:
an engine's threads, a live server's or another test's keep the real time
and the processor's own jitter.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.utils import timezone

from .. import clock, processor

#: Whether retry delays are exact (no jitter) here: set where a kit is installed.
_exact_delays: ContextVar[bool] = ContextVar("django_saga.testing.exact_delays", default=False)

#: What ``take_over()`` replaced: the clock's source, and whether delays were exact.
Saved = tuple[clock.Source | None, bool]


class TestClock:
    """The time django-saga reads while a kit is installed; it moves only when told."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, start: datetime | None = None) -> None:
        self.time = start or timezone.now()

    def now(self) -> datetime:
        return self.time

    def advance(self, delta: timedelta) -> datetime:
        self.time += delta
        return self.time


def take_over(test_clock: TestClock) -> Saved:
    """Make ``test_clock`` the time and retry delays exact in this context;
    what they replaced, for ``give_back()``."""
    _jitter.attach()
    saved = (clock.set_source(test_clock.now), _exact_delays.get())
    _exact_delays.set(True)
    return saved


def give_back(saved: Saved) -> None:
    """Put back in this context what ``take_over()`` replaced."""
    source, exact = saved
    clock.set_source(source)
    _exact_delays.set(exact)
    _jitter.detach()


class _Jitter:
    """The processor's retry randomness while a kit is installed in any thread:
    the middle of the jitter's range (a retry's delay exactly its policy's)
    where a kit is installed, the processor's own everywhere else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kits = 0
        self._before: Callable[[], float] = random.random

    def __call__(self) -> float:
        return 0.5 if _exact_delays.get() else self._before()

    def attach(self) -> None:
        with self._lock:
            if self._kits == 0 and processor.retry_random is not self:
                self._before = processor.retry_random
                processor.retry_random = self
            self._kits += 1

    def detach(self) -> None:
        with self._lock:
            self._kits -= 1
            if self._kits == 0 and processor.retry_random is self:
                processor.retry_random = self._before


_jitter = _Jitter()
