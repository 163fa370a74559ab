"""Sagas driven end to end by an in-thread engine over the in-process transport.

Each test runs once per store: the Django-model store and the in-memory store.
"""

from __future__ import annotations

import pytest

from django_saga import manager
from django_saga.models import StepStatus
from tests.helpers import steps, wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def test_three_steps_complete_with_outputs(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.set_output", "test.undo"),
            ("c", "test.record", ""),
        ),
        context={"tag": "ctx-1"},
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    assert saga.is_completed() and not saga.is_failed() and not saga.is_compensated()
    assert [s.status for s in saga.steps] == ["completed"] * 3
    assert saga.step("a").output == {"done": "a", "seen_context": "ctx-1"}
    assert saga.step("b").output == {"via": "attribute"}
    assert saga.completed_at is not None
    assert all(s.attempts == 1 for s in saga.steps)


def test_failure_at_step_three_compensates_two_then_one(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.record", "test.undo"),
            ("c", "test.fail", "test.undo"),
        ),
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "compensated", "failed"]
    assert saga.step("c").error == "ValueError: c refuses"
    assert "step 'c' failed" in saga.error
    undo = [r.action for r in Ledger.objects.filter(action__startswith="undo:").order_by("id")]
    assert undo == ["undo:b", "undo:a"]


def test_failure_at_first_step_ends_compensated(store, run_engine):
    run_engine()
    saga = manager.start(
        "order", steps(("a", "test.fail", "test.undo"), ("b", "test.record", "test.undo"))
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["failed", "cancelled"]
    assert not Ledger.objects.filter(action__startswith="undo:").exists()


@pytest.mark.parametrize(
    ("action", "error"),
    [
        ("test.keyerror", "KeyError: 'missing'"),
        ("test.exit", "SystemExit: 3"),
        ("test.returns_list", "TypeError: handler for 'test.returns_list' returned list"),
        ("test.bad_output", "TypeError: output of step 'b' is not JSON-serializable"),
    ],
)
def test_raising_or_misbehaving_handler_fails_the_step(store, run_engine, action, error):
    run_engine()
    saga = manager.start("order", steps(("a", "test.record", "test.undo"), ("b", action, "")))
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    failed = saga.step("b")
    assert failed.status == StepStatus.FAILED
    assert failed.error.startswith(error)
    assert saga.step("a").status == StepStatus.COMPENSATED


def test_action_without_handler_fails_and_compensates(store, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "CHECK_HANDLERS_ON_START": False}
    run_engine()
    saga = manager.start(
        "order", steps(("a", "test.record", "test.undo"), ("b", "nobody.home", ""))
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert "No step handler is registered for action 'nobody.home'" in saga.step("b").error


def test_step_without_compensation_is_passed_over(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        steps(("a", "test.record", "test.undo"), ("b", "test.record", ""), ("c", "test.fail", "")),
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "compensated", "failed"]
    undo = [r.action for r in Ledger.objects.filter(action__startswith="undo:")]
    assert undo == ["undo:a"]


def test_failing_compensation_stops_in_compensation_failed(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.record", "test.undo_fail"),
            ("c", "test.fail", ""),
        ),
    )
    saga = wait_terminal(saga.id)
    # The saga never flips back to "failed" mid-way: it names what went wrong.
    assert saga.state == "compensation_failed"
    assert saga.is_failed()
    assert saga.step("b").status == "compensation_failed"
    assert saga.step("b").error == "RuntimeError: refund service down"
    assert saga.step("a").status == "completed"  # not reached: nothing undone out of order
    assert "compensation of step 'b' failed" in saga.error


def test_saga_stays_compensating_until_every_step_is_undone(run_engine, settings):
    # Django store only: the handler reads the saga row through the ORM.
    run_engine()
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo_seeing_state"),
            ("b", "test.record", "test.undo_seeing_state"),
            ("c", "test.record", "test.undo_seeing_state"),
            ("d", "test.fail", ""),
        ),
    )
    assert wait_terminal(saga.id).state == "compensated"
    seen = list(
        Ledger.objects.filter(action__startswith="saw:")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert seen == ["saw:compensating"] * 3


def test_each_step_is_logged_with_saga_step_action_outcome_and_duration(run_engine, caplog):
    caplog.set_level("INFO", logger="django_saga")
    run_engine()
    saga = manager.start("order", steps(("a", "test.record", "test.undo"), ("b", "test.fail", "")))
    wait_terminal(saga.id)
    lines = [r.getMessage() for r in caplog.records if r.name == "django_saga.engine"]
    assert f"saga={saga.id} step=a execute=test.record outcome=completed duration_ms=" in "\n".join(
        lines
    )
    assert any(
        line.startswith(f"saga={saga.id} step=b execute=test.fail outcome=failed")
        and "error='ValueError: b refuses'" in line
        for line in lines
    )
    assert any(
        line.startswith(f"saga={saga.id} step=a compensate=test.undo outcome=compensated")
        for line in lines
    )


def test_a_failed_step_waits_for_an_operator_when_auto_compensate_is_off(
    store, run_engine, settings
):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    run_engine()
    saga = manager.start("order", steps(("a", "test.record", "test.undo"), ("b", "test.fail", "")))
    saga = wait_terminal(saga.id)
    assert saga.state == "failed" and saga.is_failed()
    assert [s.status for s in saga.steps] == ["completed", "failed"]
    manager.compensate(saga.id)
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "failed"]


def test_a_result_the_engine_cannot_record_fails_the_step_on_redelivery(
    store, run_engine, monkeypatch
):
    from django.db import IntegrityError

    from django_saga import flow

    original = flow.step_succeeded

    def broken(unit, step, output, duration_ms):
        if step.name == "b":
            raise IntegrityError("recording b is broken")
        original(unit, step, output, duration_ms)

    monkeypatch.setattr(flow, "step_succeeded", broken)
    run_engine()
    saga = manager.start(
        "order", steps(("a", "test.record", "test.undo"), ("b", "test.record", ""))
    )
    saga = wait_terminal(saga.id)
    # Tried once, redelivered, then failed for good with the reason kept.
    assert saga.state == "compensated"
    assert saga.step("b").status == "failed"
    assert saga.step("b").error == "engine error: IntegrityError: recording b is broken"
    assert saga.step("a").status == "compensated"


def test_an_output_with_a_nul_character_fails_the_step_clearly(store, run_engine):
    from django_saga import register_step_handler
    from django_saga.registry import registry

    register_step_handler("tmp.nul", lambda saga, step: {"text": "a\x00b"})
    try:
        run_engine()
        saga = manager.start("order", steps(("a", "tmp.nul", "")))
        saga = wait_terminal(saga.id)
        assert saga.state == "compensated"
        assert "NUL character" in saga.step("a").error
    finally:
        registry.unregister("execute", "tmp.nul")
