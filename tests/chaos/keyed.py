"""The checks of the *keyed* kind: sagas sharing a key ran one after another,
in the order they were started, and runs limited per key never overlapped.

Both read the spans the handlers committed (``Effect.began``/``ended``, one
host's clock): a run the database rolled back left none, so a fault that cut
a run short cannot pass for an overlap, and an overlap of committed runs is
a real one (the next run's slot is only free once the run before committed).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class Run:
    """One committed run of a handler limited per key."""

    saga_id: str
    step_id: str
    key: str
    began: float
    ended: float


def check_keyed(started: list[tuple[str, str]], runs: list[Run]) -> tuple[Counter[str], list[str]]:
    """``started``: the keyed sagas' ids and keys, in start order.

    Counts ``overlapping`` (a run of a key that began before the run of that
    key before it ended) and ``out_of_order`` (a saga whose first run began
    before the saga started ahead of it with that key had ended its last),
    with a line for each.
    """
    counts: Counter[str] = Counter()
    problems: list[str] = []
    by_key: dict[str, list[Run]] = {}
    for run in runs:
        by_key.setdefault(run.key, []).append(run)
    for key, key_runs in sorted(by_key.items()):
        key_runs.sort(key=lambda run: run.began)
        for before, after in pairwise(key_runs):
            if after.began < before.ended:
                counts["overlapping"] += 1
                problems.append(
                    f"overlap on key {key}: step {after.step_id} of saga {after.saga_id} "
                    f"began {before.ended - after.began:.3f}s before step {before.step_id} "
                    f"of saga {before.saga_id} ended"
                )
    spans: dict[str, tuple[float, float]] = {}
    for run in runs:
        first, last = spans.get(run.saga_id, (run.began, run.ended))
        spans[run.saga_id] = (min(first, run.began), max(last, run.ended))
    queues: dict[str, list[str]] = {}
    for saga_id, key in started:
        queues.setdefault(key, []).append(saga_id)
    counts["keys"] = len(queues)
    for key, saga_ids in sorted(queues.items()):
        ran = [saga_id for saga_id in saga_ids if saga_id in spans]
        for before, after in pairwise(ran):
            if spans[after][0] < spans[before][1]:
                counts["out_of_order"] += 1
                problems.append(
                    f"out of order on key {key}: saga {after} began before saga {before}, "
                    "started ahead of it, had ended"
                )
    return counts, problems
