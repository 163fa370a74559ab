"""One wide saga through the engines: a map stage of n items, or a parallel
stage of the same n steps, and what it cost.

The saga is ``open``, then the wide stage (each item or step one
``bench.item`` insert), then ``close``. Measured from ``start()`` until the
saga completed: the wall time, the engines' CPU and their PostgreSQL
backends' CPU (``time_engines.Span``), and each engine's RSS before the
start and at its peak during the run (sampled every 0.2 s).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import connections

from django_saga import Step, each, manager, parallel
from django_saga.models import Saga

from .resources import RssWatch
from .time_engines import Engines, Span

POLL = 0.2
SHAPES = ("parallel", "map")


@dataclass
class WideRun:
    shape: str
    items: int
    seconds: float
    #: CPU seconds over the run: the engines', their PostgreSQL backends'.
    engines_cpu: float
    postgres_cpu: float
    #: MB: the engines' RSS summed, at the start and at its peak.
    rss_before: float
    rss_peak: float
    state: str

    @property
    def cpu_per_step_ms(self) -> float:
        return 1000 * (self.engines_cpu + self.postgres_cpu) / self.items

    @property
    def rss_growth(self) -> float:
        return self.rss_peak - self.rss_before


def wide_steps(shape: str, items: int) -> list:
    """The saga's steps: a map over ``context.lines``, or as many declared steps."""
    if shape == "map":
        wide = each("work", "bench.item", "", over="context.lines")
    else:
        wide = parallel(*(Step(f"work{i}", "bench.item", "", {"index": i}) for i in range(items)))
    return [Step("open", "bench.write", ""), wide, Step("close", "bench.write", "")]


def run_wide(
    shape: str,
    items: int,
    engines: int,
    concurrency: int,
    log_dir: Path,
    broker_url: str,
    timeout: float,
    say: Callable[[str], None],
) -> WideRun:
    run = uuid.uuid4().hex[:8]
    with Engines(engines, concurrency, log_dir, broker_url, f"{shape}-{items}") as running:
        watch: RssWatch = running.watch()
        before = sum(watch.rss().values())
        peak = before
        span = Span(running)
        began = time.time()
        saga = manager.start(
            f"bench.{shape}", wide_steps(shape, items), {"run": run, "lines": list(range(items))}
        )
        state, since = "started", time.monotonic()
        while state in ("started", "compensating"):
            time.sleep(POLL)
            peak = max(peak, sum(watch.rss().values()))
            state = Saga.objects.filter(pk=saga.pk).values_list("state", flat=True).get()
            if time.monotonic() - since > timeout:
                say(f"  {shape}: still {state} after {timeout:.0f} s; giving up")
                break
        seconds = time.time() - began
        cpu = span.read()
    connections.close_all()
    return WideRun(shape, items, seconds, cpu.engines, cpu.postgres or 0.0, before, peak, state)
