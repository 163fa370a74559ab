"""Runs of limited actions, counted where they start: their current rate.

Only an action that declares a limit is counted, by a dict update in the
process; the sweeper hands the counts to the store every round
(``Store.record_runs``), so the console and the metrics can add up what
every engine reported over the last ``models.RATE_WINDOW`` seconds. A run counts
when its gate lets it start, whether its transaction then commits or not:
it called its service either way.
"""

from __future__ import annotations

import threading
from collections import Counter


class Tally:
    """Runs counted in this process since they were last taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: Counter[tuple[str, str]] = Counter()

    def count(self, kind: str, action: str) -> None:
        with self._lock:
            self._runs[(kind, action)] += 1

    def take(self) -> dict[tuple[str, str], int]:
        """The runs counted so far, by (kind, action); the count starts again."""
        with self._lock:
            runs, self._runs = dict(self._runs), Counter()
        return runs


#: The process's tally: every engine thread counts into it.
TALLY = Tally()
