"""Going forward: stages dispatched, steps finished, failures, outside results."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_saga import clock, flow
from django_saga.errors import StaleResult, StepNotWaiting
from django_saga.messages import COMPENSATE, EXECUTE
from django_saga.models import SagaState, StepStatus

from .helpers import build, run_to_completed, sent, statuses, unit_for, waiting_saga


def test_start_dispatches_the_first_stage_only():
    saga = build(("a", "b"), ("c",), timeout=30)
    unit = unit_for(saga)
    flow.start(unit)
    assert sent(unit) == [(EXECUTE, "a", 1), (EXECUTE, "b", 1)]
    assert statuses(saga) == {"a": "started", "b": "started", "c": "pending"}
    a = saga.step("a")
    assert a.timeout_at is not None and a.started_at is not None
    assert timedelta(seconds=29) < a.timeout_at - a.started_at <= timedelta(seconds=30)


def test_a_stage_waits_for_its_last_step_then_the_next_one_is_dispatched():
    saga = build(("a", "b"), ("c",))
    flow.start(unit_for(saga))
    first = unit_for(saga, "a")
    flow.step_succeeded(first, first.step, {"n": 1}, 5)
    assert sent(first) == []  # b is still running
    last = unit_for(saga, "b")
    flow.step_succeeded(last, last.step, {}, 5)
    assert sent(last) == [(EXECUTE, "c", 1)]
    assert saga.step("a").output == {"n": 1} and saga.step("a").duration_ms == 5


def test_the_last_step_completes_the_saga():
    saga = build(("a",), ("b",))
    flow.start(unit_for(saga))
    run_to_completed(saga, "a", "b")
    assert saga.state == SagaState.COMPLETED
    assert saga.completed_at is not None


def test_a_skipped_step_counts_as_done_for_its_stage():
    saga = build(("a",), ("b",))
    flow.start(unit_for(saga))
    unit = unit_for(saga, "a")
    flow.step_skipped(unit, unit.step, 0)
    assert saga.step("a").status == StepStatus.SKIPPED
    assert sent(unit) == [(EXECUTE, "b", 1)]


def test_a_retried_failure_dispatches_the_next_attempt_after_its_delay():
    saga = build(("a",))
    flow.start(unit_for(saga))
    unit = unit_for(saga, "a")
    flow.step_failed(unit, unit.step, "ValueError: busy", 3, retry_delay=2.5)
    assert sent(unit) == [(EXECUTE, "a", 2)]
    assert [delay for _, delay in unit.delayed] == [2.5]
    assert saga.step("a").status == StepStatus.STARTED and saga.state == SagaState.STARTED


def test_a_final_failure_cancels_what_is_pending_and_undoes_the_last_stage_first():
    saga = build(("a", "b-"), ("c",), ("d",))
    flow.start(unit_for(saga))
    run_to_completed(saga, "a", "b", "c")
    unit = unit_for(saga, "d")
    flow.step_failed(unit, unit.step, "ValueError: declined", 1)
    assert saga.state == SagaState.COMPENSATING
    assert saga.error == "step 'd' failed: ValueError: declined"
    assert sent(unit) == [(COMPENSATE, "c", 1)]
    assert statuses(saga) == {
        "a": "completed",
        "b": "completed",
        "c": "compensating",
        "d": "failed",
    }


def test_without_auto_compensate_a_failure_waits_for_an_operator(settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    saga = build(("a",), ("b",))
    flow.start(unit_for(saga))
    run_to_completed(saga, "a")
    unit = unit_for(saga, "b")
    flow.step_failed(unit, unit.step, "ValueError: declined", 1)
    assert saga.state == SagaState.FAILED
    assert sent(unit) == []
    operator = unit_for(saga)
    assert flow.request_compensation(operator) is True
    assert sent(operator) == [(COMPENSATE, "a", 1)]


def test_a_waiting_step_has_its_own_timeout_and_completes_from_outside():
    saga = waiting_saga()
    pay = saga.step("pay")
    assert pay.status == StepStatus.WAITING
    assert timedelta(seconds=599) < pay.timeout_at - clock.now() <= timedelta(seconds=600)
    unit = unit_for(saga, "pay")
    assert flow.outside_result(unit, unit.step, "completed", {"charge": "ch_1"}, "", 1) is True
    assert saga.step("pay").output == {"ref": "ext-1", "charge": "ch_1"}
    assert sent(unit) == [(EXECUTE, "ship", 1)]
    again = unit_for(saga, "pay")
    assert flow.outside_result(again, again.step, "completed", {}, "", 1) is False


def test_an_outside_result_for_another_attempt_or_a_step_not_waiting_is_refused():
    saga = waiting_saga()
    unit = unit_for(saga, "pay")
    with pytest.raises(StaleResult, match="attempt 1"):
        flow.outside_result(unit, unit.step, "failed", None, "late", 7)
    ship = unit_for(saga, "ship")
    with pytest.raises(StepNotWaiting, match="'ship'"):
        flow.outside_result(ship, ship.step, "completed", None, "")
