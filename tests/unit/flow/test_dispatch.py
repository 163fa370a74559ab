"""Sending a step on its way: its attempt counted, its clock started, its
message sent (after a delay, if asked); a saga's first stage all at once."""

from __future__ import annotations

from datetime import timedelta

from django_saga import clock, flow
from tests.unit.flow.helpers import build, sent, statuses, unit_for


def test_a_dispatched_step_counts_an_attempt_and_its_clock_covers_the_delay():
    saga = build(("pay",), timeout=30)
    unit = unit_for(saga, "pay")
    before = clock.now()
    flow.dispatch(unit, unit.step, delay=5)
    step = unit.step
    assert (step.status, step.attempts) == ("started", 1)
    assert step.timeout_at is not None
    assert step.timeout_at >= before + timedelta(seconds=35)
    assert sent(unit) == [("execute", "pay", 1)]
    assert unit.delayed and unit.outgoing == []  # due in five seconds


def test_start_sends_every_step_of_the_first_stage_and_nothing_else():
    saga = build(("a", "b"), ("c",))
    unit = unit_for(saga)
    flow.start(unit)
    assert sorted(sent(unit)) == [("execute", "a", 1), ("execute", "b", 1)]
    assert statuses(saga) == {"a": "started", "b": "started", "c": "pending"}
