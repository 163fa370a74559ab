"""Compensation asked for by hand (``manager.compensate``,
``retry_compensation``), with an engine running, on both stores."""

from __future__ import annotations

import uuid

import pytest

from django_saga import (
    InvalidStateTransition,
    RetryPolicy,
    SagaNotFound,
    Step,
    manager,
    register_compensation_handler,
)
from django_saga.registry import registry
from django_saga.stores import get_store
from tests.conftest import wait_for
from tests.helpers import steps, unsent, wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def undo_log() -> list[str]:
    return list(
        Ledger.objects.filter(action__startswith="undo:")
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_unknown_saga_ids_raise_saga_not_found(store):
    with pytest.raises(SagaNotFound, match="No saga with id 'nope'"):
        manager.get("nope")
    with pytest.raises(SagaNotFound):
        manager.compensate("nope")
    with pytest.raises(SagaNotFound):
        manager.retry_compensation("nope")


def test_compensating_a_completed_saga_undoes_every_step_last_first(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.record", "test.undo"),
            ("c", "test.record", "test.undo"),
        ),
    )
    assert wait_terminal(saga.id).state == "completed"
    assert undo_log() == []
    manager.compensate(saga.id)
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.is_compensated()
    assert [s.status for s in saga.steps] == ["compensated"] * 3
    assert all(s.compensated_at is not None for s in saga.steps)
    assert [s.compensation_attempts for s in saga.steps] == [1, 1, 1]
    assert undo_log() == ["undo:c", "undo:b", "undo:a"]
    assert saga.error == "compensation requested while completed"


def test_compensate_twice_while_compensating_is_a_no_op(store, run_engine):
    engine = run_engine()
    saga = manager.start(
        "order",
        steps(("a", "test.record", "test.undo"), ("b", "test.record", "test.undo")),
    )
    assert wait_terminal(saga.id).state == "completed"
    engine.stop()
    assert engine.finished.wait(15), "engine did not stop"
    before = unsent(get_store())

    first = manager.compensate(saga.id)
    assert first.state == "compensating"
    assert first.step("b").status == "compensating"
    assert first.step("a").status == "completed"
    assert unsent(get_store()) == before + 1

    second = manager.compensate(saga.id)
    assert second.state == "compensating"
    assert second.step("b").compensation_attempts == 1
    assert second.error == first.error
    assert unsent(get_store()) == before + 1  # no second compensate message

    run_engine()
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert undo_log() == ["undo:b", "undo:a"]
    assert [s.compensation_attempts for s in saga.steps] == [1, 1]


def test_compensating_a_compensated_saga_is_refused(store, run_engine):
    run_engine()
    saga = manager.start("order", steps(("a", "test.record", "test.undo"), ("b", "test.fail", "")))
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    with pytest.raises(InvalidStateTransition) as info:
        manager.compensate(saga.id)
    assert str(info.value) == f"Saga {saga.id} is already compensated"
    assert manager.get(saga.id).state == "compensated"
    assert undo_log() == ["undo:a"]


def test_compensating_a_started_saga_cancels_what_has_not_run(store, run_engine):
    saga = manager.start(
        "order", steps(("a", "test.record", "test.undo"), ("b", "test.record", "test.undo"))
    )
    result = manager.compensate(saga.id)
    # Nothing had completed, so nothing needs undoing: it is compensated at once.
    assert result.state == "compensated"
    assert [s.status for s in result.steps] == ["cancelled", "cancelled"]
    assert result.completed_at is not None
    assert result.error == "compensation requested while started"
    # The execute message start() wrote is now stale: an engine must not run step a.
    engine = run_engine()
    wait_for(
        lambda: unsent(get_store()) == 0 and engine.processed >= 1,
        10,
        "the stale execute message to be consumed",
    )
    assert not Ledger.objects.exists()
    assert manager.get(saga.id).state == "compensated"


def test_compensating_a_failed_saga_without_auto_compensation(store, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
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
    assert saga.state == "failed"
    assert undo_log() == []
    manager.compensate(saga.id)
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "compensated", "failed"]
    assert undo_log() == ["undo:b", "undo:a"]
    assert saga.error == "step 'c' failed: ValueError: c refuses"


def test_retry_compensation_resumes_a_compensation_failed_saga(store, run_engine):
    action = f"tmp.flaky_undo.{uuid.uuid4().hex}"
    calls: list[str] = []

    def flaky_undo(saga, step):
        calls.append(step.name)
        if len(calls) == 1:
            raise RuntimeError("refund service down")
        Ledger.objects.create(step_id=step.id, action="undo:" + step.name)

    # One attempt only, so the first failure stops the saga for an operator.
    register_compensation_handler(action, flaky_undo, retry=RetryPolicy(max_attempts=1))
    try:
        run_engine()
        saga = manager.start(
            "order",
            [
                Step("a", "test.record", "test.undo"),
                Step("b", "test.record", action),
                Step("c", "test.fail", ""),
            ],
        )
        saga = wait_terminal(saga.id)
        assert saga.state == "compensation_failed"
        assert saga.step("b").status == "compensation_failed"
        assert saga.step("a").status == "completed"
        assert undo_log() == []

        manager.retry_compensation(saga.id)
        saga = wait_terminal(saga.id)
        assert saga.state == "compensated"
        assert [s.status for s in saga.steps] == ["compensated", "compensated", "failed"]
        assert saga.step("b").compensation_attempts == 2
        assert saga.step("a").compensation_attempts == 1
        assert calls == ["b", "b"]
        assert undo_log() == ["undo:b", "undo:a"]
    finally:
        registry.unregister("compensate", action)


def test_compensate_on_compensation_failed_retries_and_can_fail_again(store, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "COMPENSATION_MAX_ATTEMPTS": 2}
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
    assert saga.state == "compensation_failed"
    assert saga.step("b").compensation_attempts == 2  # both attempts spent

    manager.compensate(saga.id)  # documented: retries the failed compensations
    saga = wait_for(
        lambda: (
            (s := manager.get(saga.id)).step("b").compensation_attempts == 4
            and not s.is_active()
            and s
        ),
        20,
        "the second compensation attempt",
    )
    assert saga.state == "compensation_failed"
    assert saga.step("b").status == "compensation_failed"
    assert saga.step("b").error == "RuntimeError: refund service down"
    assert saga.step("a").status == "completed"  # never undone out of order
    assert saga.step("a").compensation_attempts == 0


def test_retry_compensation_refuses_other_states(store, run_engine):
    run_engine()
    saga = manager.start("order", steps(("a", "test.record", "test.undo")))
    assert wait_terminal(saga.id).state == "completed"
    with pytest.raises(InvalidStateTransition) as info:
        manager.retry_compensation(saga.id)
    assert str(info.value) == (
        f"Saga {saga.id} is completed; only a saga whose compensation failed can have it retried."
    )
    assert manager.get(saga.id).state == "completed"
