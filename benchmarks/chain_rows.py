"""The rows the baselines' chained steps write, and what a run's rows measure.

Celery's chain and DBOS's workflow do each step as one ``BenchRow`` insert
stamped with when it started and when the step before it committed
(``prev_done``; for the first step, when the chain was sent): the same
write, and the same reading of a run's latencies from those rows.
"""

from __future__ import annotations

import time

from .pacing import Pacer
from .resources import RssWatch
from .workload import RunResult, Workload


def write_row(system: str, run: str, key: str, position: int, prev_done: float) -> float:
    """Insert the step's row; ``time.time()`` once it is written (the next
    step's ``prev_done``)."""
    started = time.time()
    # Not at import: the baselines' workers import this before django.setup().
    from .models import BenchRow

    BenchRow.objects.create(
        run=run,
        system=system,
        saga_key=key,
        position=position,
        started=started,
        prev_done=prev_done,
    )
    return time.time()


def collect(
    system: str,
    run_id: str,
    work: Workload,
    label: str,
    pacer: Pacer,
    watch: RssWatch,
    peaks: dict[str, float],
    cpu: float,
) -> RunResult:
    """What the rows of ``run_id`` say of the run (chains completed, elapsed
    time, first hops, hand-offs and whole-chain latencies), with how starting
    went (``pacer``) and the worker's RSS and CPU (``watch``, ``peaks``, ``cpu``)."""
    from .models import BenchRow

    rows = list(
        BenchRow.objects.filter(run=run_id, system=system).values_list(
            "saga_key", "position", "started", "prev_done"
        )
    )
    sent = {key: prev for key, position, _, prev in rows if position == 0}
    last = work.steps - 1
    ends = {key: at for key, position, at, _ in rows if position == last}
    return RunResult(
        label=label,
        started=pacer.started,
        completed=len(ends),
        steps=work.steps,
        elapsed=(max(ends.values()) - min(sent.values())) if ends else 0.0,
        start_seconds=pacer.last - pacer.first,
        first_hops=[at - prev for _, position, at, prev in rows if position == 0],
        handoffs=[at - prev for _, position, at, prev in rows if position > 0],
        saga_latencies=[ends[key] - sent[key] for key in ends if key in sent],
        peak_rss=peaks,
        rss_marks=watch.marks,
        cpu_seconds=cpu,
        db={},
        rows=len(rows),
        start_latencies=pacer.durations,
        starters=pacer.callers,
    )
