"""A step's history: the entries recorded, and what the saga reads from them."""

from __future__ import annotations

from django_saga import flow
from django_saga.messages import COMPENSATE, EXECUTE
from django_saga.models import StepStatus

from .helpers import build, sent, unit_for, waiting_saga


def test_an_entry_says_what_ran_which_attempt_how_it_ended_and_when():
    step = build(("a",)).step("a")
    flow.record(step, EXECUTE, 2, flow.RETRYING, 15, "ValueError: busy", retry_in=1.23456)
    (entry,) = step.history
    assert entry["kind"] == EXECUTE and entry["attempt"] == 2
    assert entry["outcome"] == "retrying" and entry["duration_ms"] == 15
    assert entry["error"] == "ValueError: busy" and entry["retry_in"] == 1.235
    assert "at" in entry


def test_an_operator_entry_carries_who_and_why_and_no_duration():
    step = build(("a",)).step("a")
    flow.record(step, flow.OPERATOR, 1, flow.SKIPPED_BY_HAND, note={"by": "ada", "reason": "paid"})
    (entry,) = step.history
    assert entry["by"] == "ada" and entry["reason"] == "paid"
    assert "duration_ms" not in entry


def test_an_error_text_the_database_would_refuse_is_made_storable():
    step = build(("a",)).step("a")
    flow.record(step, EXECUTE, 1, flow.FAILED, 0, "bad\x00byte", reason="x" * 20_000)
    (entry,) = step.history
    assert "\x00" not in entry["error"] and "\\x00" in entry["error"]
    assert len(entry["reason"]) < 20_000 and "more characters cut" in entry["reason"]


def test_entries_are_appended_in_order():
    step = build(("a",)).step("a")
    flow.record(step, EXECUTE, 1, flow.FAILED, 1)
    flow.record(step, COMPENSATE, 1, flow.COMPENSATED, 2)
    assert [(e["kind"], e["outcome"]) for e in step.history] == [
        (EXECUTE, "failed"),
        (COMPENSATE, "compensated"),
    ]


def test_a_completed_step_is_undone_and_a_failed_one_that_never_waited_is_not():
    saga = build(("a", "b"))
    a, b = saga.step("a"), saga.step("b")
    a.status = StepStatus.COMPLETED
    b.status = StepStatus.FAILED
    assert flow.to_undo(a) is True
    assert flow.to_undo(b) is False


def test_a_step_whose_wait_failed_is_undone_for_what_its_handler_started():
    saga = waiting_saga()
    unit = unit_for(saga, "pay")
    flow.outside_result(unit, unit.step, "failed", None, "card declined")
    pay = saga.step("pay")
    assert flow.waited(pay) and flow.wait_undone(pay)
    # Failed, yet compensated: its handler had started the outside work.
    assert sent(unit) == [(COMPENSATE, "pay", 1)]
    assert pay.status == StepStatus.COMPENSATING


def test_a_wait_that_completed_is_not_undone_twice():
    saga = waiting_saga()
    unit = unit_for(saga, "pay")
    flow.outside_result(unit, unit.step, "completed", {}, "")
    assert flow.waited(saga.step("pay")) and not flow.wait_undone(saga.step("pay"))


def test_the_pivot_counts_as_passed_once_it_is_done():
    saga = build(("a",), ("pivot",), ("c",))
    pivot = saga.step("pivot")
    pivot.pivot = True
    assert flow.pivot_passed(saga.steps) is None
    pivot.status = StepStatus.COMPLETED
    assert flow.pivot_passed(saga.steps) is pivot
