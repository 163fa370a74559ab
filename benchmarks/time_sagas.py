"""The sagas ``saga_time`` starts: a sleeper, a burst's sleeper, a scheduled run.

Every saga here is real: its sleep is ``django_saga.Sleep`` and its other
step the benchmark's own handler (``sagas.py``: one ``BenchRow`` insert,
which needs ``run`` in the context). ``TickSaga`` is imported by the
engines' tickers by its dotted path, so this module imports nothing heavy.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django_saga import SagaDefinition, Sleep, Step

#: How long a sleeper sleeps: days, so that none wakes during a run.
SLEEPER_DAYS = 3


def after_step() -> Step:
    """The step after a sleep: the benchmark handler's one small insert."""
    return Step("after", "bench.write", "bench.undo", {})


def sleeper_plan() -> list[Step]:
    """A saga that sleeps for days, then writes one row."""
    return [Sleep("nap", timedelta(days=SLEEPER_DAYS)), after_step()]


def burst_plan(wake: datetime) -> list[Step]:
    """A saga that sleeps until ``wake`` (the same for the whole burst), then writes one row."""
    return [Sleep("nap", until=wake), after_step()]


class TickSaga(SagaDefinition):
    """The small saga each schedule starts: one step, one insert."""

    name = "bench.tick"

    def steps(self) -> list[Step]:
        return [Step("write", "bench.write", "bench.undo", {})]
