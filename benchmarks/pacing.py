"""Starting the sagas at a pace and waiting until they are done.

The same starter and the same wait serve django-saga and Celery, so that
both are started and watched alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import connections

from .resources import RssWatch
from .workload import Workload


class Pacer(threading.Thread):
    """Calls ``start(i)`` for i in range(n) from ``callers`` threads (each
    taking every ``callers``-th i): as fast as they can, or ``rate`` per
    second in all. Records how long each call took."""

    def __init__(
        self, n: int, rate: float | None, start: Callable[[int], None], callers: int = 1
    ) -> None:
        super().__init__(name="bench-starter", daemon=True)
        self.n = n
        self.rate = rate
        self.start_one = start
        self.callers = max(1, callers)
        self.started = 0
        self.first = self.last = 0.0
        self.errors: list[str] = []
        #: Seconds each successful call took.
        self.durations: list[float] = []
        self._lock = threading.Lock()

    def run(self) -> None:
        self.first = time.time()
        threads = [
            threading.Thread(target=self._call, args=(k,), name=f"bench-starter-{k}", daemon=True)
            for k in range(self.callers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.last = time.time()

    def _call(self, k: int) -> None:
        try:
            for i in range(k, self.n, self.callers):
                if self.rate:
                    time.sleep(max(0.0, self.first + i / self.rate - time.time()))
                began = time.perf_counter()
                try:
                    self.start_one(i)
                except Exception as exc:
                    with self._lock:
                        self.errors.append(repr(exc))
                    continue
                took = time.perf_counter() - began
                with self._lock:
                    self.started += 1
                    self.durations.append(took)
        finally:
            connections.close_all()


def wait_done(
    count: Callable[[], int],
    work: Workload,
    watch: RssWatch,
    pacer: Pacer,
) -> int:
    """Poll ``count()`` (completed sagas) every 0.5 s until all are done or progress stalls.

    Marks RSS at warm-up (10 % done) and at the end, and with ``work.memory`` at
    every 10 %. Returns the number of polls (each one database transaction).
    """
    total = work.sagas
    polls = 0
    last, last_change = -1, time.monotonic()
    next_mark = 1
    while True:
        done = count()
        polls += 1
        if done != last or pacer.is_alive():
            last, last_change = done, time.monotonic()
        while next_mark < 10 and done >= total * next_mark / 10:
            if next_mark == 1:
                watch.mark("warm-up", done)
            elif work.memory:
                watch.mark(f"{next_mark * 10}%", done)
            next_mark += 1
        if not pacer.is_alive():
            total = pacer.started  # some starts may have failed
            if done >= total:
                break
        if time.monotonic() - last_change > work.timeout:
            print(f"  no progress for {work.timeout:.0f}s: {done}/{total} done; giving up")
            break
        time.sleep(0.5)
    watch.mark("end", done)
    return polls
