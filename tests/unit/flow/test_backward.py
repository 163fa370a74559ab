"""Going backwards: compensation stage by stage, operators' requests, deadlines."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_saga import clock, flow
from django_saga.errors import InvalidStateTransition
from django_saga.messages import COMPENSATE
from django_saga.models import SagaState, StepStatus

from .helpers import build, run_to_completed, sent, statuses, unit_for


def test_compensation_goes_back_stage_by_stage_and_steps_without_undo_are_done_at_once():
    saga = build(("a",), ("b-",), ("c",), ("d",))
    flow.start(unit_for(saga))
    run_to_completed(saga, "a", "b", "c")
    failing = unit_for(saga, "d")
    flow.step_failed(failing, failing.step, "boom", 1)
    assert sent(failing) == [(COMPENSATE, "c", 1)]
    undo_c = unit_for(saga, "c")
    flow.compensation_succeeded(undo_c, undo_c.step)
    # b has nothing to undo: it is compensated on the spot, and a's undo goes out.
    assert sent(undo_c) == [(COMPENSATE, "a", 1)]
    assert saga.step("b").status == StepStatus.COMPENSATED
    undo_a = unit_for(saga, "a")
    flow.compensation_succeeded(undo_a, undo_a.step)
    assert saga.state == SagaState.COMPENSATED and sent(undo_a) == []


def test_a_compensation_out_of_attempts_stops_the_saga_until_it_is_resumed():
    saga = build(("a",), ("b",))
    flow.start(unit_for(saga))
    run_to_completed(saga, "a")
    failing = unit_for(saga, "b")
    flow.step_failed(failing, failing.step, "boom", 1)
    undo = unit_for(saga, "a")
    flow.compensation_failed(undo, undo.step, "RuntimeError: refund service down")
    assert saga.state == SagaState.COMPENSATION_FAILED
    assert saga.step("a").status == StepStatus.COMPENSATION_FAILED
    resume = unit_for(saga)
    flow.resume_compensation(resume)
    assert saga.state == SagaState.COMPENSATING
    assert sent(resume) == [(COMPENSATE, "a", 2)]
    assert saga.step("a").history[-1]["outcome"] == "resumed"


def test_an_operator_cannot_compensate_twice():
    saga = build(("a",))
    saga.state = SagaState.COMPENSATED
    with pytest.raises(InvalidStateTransition, match="already compensated"):
        flow.request_compensation(unit_for(saga))
    saga.state = SagaState.COMPENSATING
    assert flow.request_compensation(unit_for(saga)) is False


def test_a_passed_deadline_compensates_a_started_saga_only():
    saga = build(("a",), ("b",))
    flow.start(unit_for(saga))
    run_to_completed(saga, "a")
    saga.deadline_at = clock.now() + timedelta(minutes=5)
    assert flow.deadline_passed(unit_for(saga)) is False
    saga.deadline_at = clock.now() - timedelta(seconds=1)
    unit = unit_for(saga)
    assert flow.deadline_passed(unit) is True
    assert saga.state == SagaState.COMPENSATING
    assert statuses(saga)["b"] == StepStatus.CANCELLED
    assert sent(unit) == [(COMPENSATE, "a", 1)]
