"""How a relay learns that outbox rows were written or come due.

A client that writes rows sets ``outbox_written``; a delayed row's due time
goes to ``due_times``, so that a relay in the same process sleeps no longer
than until then. Relays in other processes are woken through the database
(``stores.postgres``); ``OutboxListener`` is the in-process way of waiting.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Sequence

#: Set when a client writes an outbox row, so an in-process relay wakes at once.
outbox_written = threading.Event()


#: Seconds after a delayed row's due time at which the relay looks again (see
#: ``DueTimes.seconds_until_next``).
SLACK = 0.02


class DueTimes:
    """When the delayed rows this process wrote come due (retries, backoffs).

    A relay in the process sleeps no longer than until the next one, so a
    retry is published when it is due rather than at the next poll.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: list[float] = []

    def add(self, delays: Sequence[float]) -> None:
        now = time.monotonic()
        with self._lock:
            for delay in delays:
                heapq.heappush(self._times, now + delay)
        outbox_written.set()  # a waiting relay recomputes how long to sleep

    def seconds_until_next(self, longest: float) -> float:
        """Seconds until the relay should look again for a row coming due, at
        most ``longest``.

        A due time just past is kept for one more look, ``SLACK`` later: the
        relay woke by this process's clock, while the claim compares the
        row's time with the wall clock, and a claim a hair early must not
        leave the row to the next poll.
        """
        now = time.monotonic()
        with self._lock:
            while self._times and self._times[0] + SLACK <= now:
                heapq.heappop(self._times)
            if not self._times:
                return longest
            due = self._times[0]
            return min(longest, (due if due > now else due + SLACK) - now)


due_times = DueTimes()


class OutboxListener:
    """How a relay waits for new outbox rows: here, for writes in this process."""

    def wait(self, timeout: float, linger: float = 0.0) -> None:
        """Return when rows may have been written, or after ``timeout`` seconds;
        once woken, ``linger`` seconds more, so that one claim takes what
        several writers wrote meanwhile."""
        if outbox_written.wait(timeout) and linger > 0:
            time.sleep(linger)
        outbox_written.clear()

    def close(self) -> None:
        pass
