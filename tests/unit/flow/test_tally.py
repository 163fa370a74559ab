"""The tally of runs of limited actions: counted where the gate lets them
start, taken whole by the sweeper."""

from __future__ import annotations

import threading

from django_saga import flow
from django_saga.flow.tally import TALLY, Tally
from django_saga.limits import Limit
from django_saga.messages import COMPENSATE, EXECUTE
from tests.unit.flow.helpers import build, unit_for


def test_runs_are_counted_by_kind_and_action_and_taken_once():
    tally = Tally()
    for kind, action in ((EXECUTE, "pay"), (EXECUTE, "pay"), (COMPENSATE, "pay"), (EXECUTE, "x")):
        tally.count(kind, action)
    assert tally.take() == {(EXECUTE, "pay"): 2, (COMPENSATE, "pay"): 1, (EXECUTE, "x"): 1}
    assert tally.take() == {}


def test_threads_counting_at_once_lose_no_run():
    tally = Tally()

    def count() -> None:
        for _ in range(5000):
            tally.count(EXECUTE, "pay")

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tally.take() == {(EXECUTE, "pay"): 20_000}


def test_the_gate_counts_a_limited_run_it_lets_start_and_nothing_else():
    TALLY.take()
    unit = unit_for(build(("pay",)), "pay")
    assert flow.may_run(unit, unit.step, EXECUTE, "limited", 1, Limit(1))
    assert flow.may_run(unit, unit.step, EXECUTE, "free", 1, None)  # no limit: not counted
    paused = build(("pay",))
    paused.paused = True
    other = unit_for(paused, "pay")
    assert not flow.may_run(other, other.step, EXECUTE, "limited", 1, Limit(5))  # held
    assert TALLY.take() == {(EXECUTE, "limited"): 1}
