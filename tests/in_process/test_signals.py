"""Signals: sent once per transition, after it committed, with the saga and the step."""

from __future__ import annotations

import threading

import pytest

from django_saga import Step, manager, signals
from tests.helpers import wait_terminal

pytestmark = pytest.mark.django_db(transaction=True)

ALL = {
    name: getattr(signals, name)
    for name in (
        "saga_started",
        "saga_completed",
        "saga_failed",
        "saga_compensated",
        "saga_compensation_failed",
        "step_completed",
        "step_failed",
        "step_compensated",
    )
}


@pytest.fixture(params=["django", "memory"])
def received(request, settings):
    settings.SAGA = {
        **settings.SAGA,
        "STORE": f"django_saga.stores.{request.param}."
        + ("DjangoStore" if request.param == "django" else "MemoryStore"),
    }
    log: list[tuple[str, str, str | None, str]] = []
    lock = threading.Lock()
    receivers = {}
    for name, signal in ALL.items():

        def receiver(sender, saga, step=None, _name=name, **kwargs):
            with lock:
                log.append((_name, saga.id, step.name if step else None, saga.state))

        receivers[name] = receiver
        signal.connect(receiver, weak=False)
    yield log
    for name, signal in ALL.items():
        signal.disconnect(receivers[name])


def test_a_completed_saga_sends_started_step_completed_and_completed(received, run_engine):
    run_engine()
    saga = manager.start("order", [Step("a", "test.record", ""), Step("b", "test.record", "")])
    wait_terminal(saga.id)
    assert received == [
        ("saga_started", saga.id, None, "started"),
        ("step_completed", saga.id, "a", "started"),
        # Sent after the commit that also completed the saga: receivers see that.
        ("step_completed", saga.id, "b", "completed"),
        ("saga_completed", saga.id, None, "completed"),
    ]


def test_a_compensated_saga_sends_failure_and_compensation_signals(received, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("a", "test.record", "test.undo"),
            Step("b", "test.record", ""),
            Step("c", "test.fail", ""),
        ],
    )
    wait_terminal(saga.id)
    names = [(name, step) for name, _, step, _ in received]
    assert names == [
        ("saga_started", None),
        ("step_completed", "a"),
        ("step_completed", "b"),
        ("step_failed", "c"),
        ("saga_failed", None),
        ("step_compensated", "b"),  # nothing to undo: compensated at once
        ("step_compensated", "a"),
        ("saga_compensated", None),
    ]


def test_no_signal_for_retried_attempts_and_none_for_rolled_back_work(received, run_engine):
    run_engine()
    saga = manager.start("order", [Step("a", "test.flaky", "", {"fail_times": 2})])
    wait_terminal(saga.id)
    assert [name for name, *_ in received] == ["saga_started", "step_completed", "saga_completed"]


def test_compensation_failed_is_signalled(received, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "COMPENSATION_MAX_ATTEMPTS": 1}
    run_engine()
    saga = manager.start(
        "order", [Step("a", "test.record", "test.undo_fail"), Step("b", "test.fail", "")]
    )
    wait_terminal(saga.id)
    assert [name for name, *_ in received][-1] == "saga_compensation_failed"
