"""The state machine's transitions, one at a time, on in-memory units.

No engine, no broker, no database: each test builds a saga in memory, hands
``flow`` a unit over it, and reads what the unit would commit (step and saga
states, the messages it would send).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_saga import clock, flow
from django_saga.errors import InvalidStateTransition, StaleResult, StepNotWaiting
from django_saga.messages import COMPENSATE, EXECUTE, decode
from django_saga.models import Saga, SagaState, SagaStep, StepStatus
from django_saga.stores.memory import MemoryUnit


def build(*stages: tuple[str, ...], timeout: float | None = None) -> Saga:
    """A started saga whose stages hold the named steps (a name ending in '-' has no undo)."""
    saga = Saga(name="order", state=SagaState.STARTED)
    steps: list[SagaStep] = []
    for number, names in enumerate(stages):
        for name in names:
            steps.append(
                SagaStep(
                    saga=saga,
                    position=len(steps),
                    stage=number,
                    name=name.rstrip("-"),
                    action="do",
                    compensation="" if name.endswith("-") else "undo",
                    timeout=timeout,
                )
            )
    saga.set_steps(steps)
    return saga


def unit_for(saga: Saga, step: str | None = None) -> MemoryUnit:
    return MemoryUnit(saga, saga.step(step) if step else None, fast_path=True)


def sent(unit: MemoryUnit) -> list[tuple[str, str, int]]:
    """(kind, step name, attempt) of every message the unit would send, now or later."""
    names = {s.pk: s.name for s in unit.saga.steps}
    bodies = [m.body for m in unit.outgoing] + [m.body for m, _ in unit.delayed]
    return [
        (m.kind, names[m.step_id], m.attempt) for m in (decode(b.encode(), 10_000) for b in bodies)
    ]


def statuses(saga: Saga) -> dict[str, str]:
    return {s.name: s.status for s in saga.steps}


def run_to_completed(saga: Saga, *names: str) -> None:
    for name in names:
        unit = unit_for(saga, name)
        flow.step_succeeded(unit, unit.step, {"done": name}, 1)


# -- going forward --------------------------------------------------------------------
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


# -- failures and retries --------------------------------------------------------------
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


# -- compensation -----------------------------------------------------------------------
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


# -- waiting for the outside ------------------------------------------------------------
def waiting_saga() -> Saga:
    saga = build(("pay",), ("ship",))
    flow.start(unit_for(saga))
    unit = unit_for(saga, "pay")
    flow.step_waiting(unit, unit.step, {"ref": "ext-1"}, 2, timeout=600)
    return saga


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
