"""django_saga.lifecycle: ``manager.run()`` serves sagas in this thread until stopped."""

from __future__ import annotations

import threading
import time

import pytest

from django_saga import Step
from django_saga.api import Manager
from tests.helpers import wait_terminal

pytestmark = pytest.mark.django_db(transaction=True)


def running(runner: Manager) -> threading.Thread:
    """``runner.run()`` in a thread of its own, serving once a saga it was sent completes."""
    thread = threading.Thread(target=runner.run, name="test-lifecycle", daemon=True)
    thread.start()
    saga = runner.start("order", [Step("a", "test.record")])
    assert wait_terminal(saga.id).state == "completed"
    return thread


def test_stop_and_close_without_an_engine_return_at_once():
    idle = Manager()
    started = time.monotonic()
    idle.stop()
    idle.close()
    assert time.monotonic() - started < 1


def test_run_serves_sagas_until_stop_and_then_returns():
    runner = Manager()
    thread = running(runner)
    runner.stop()
    thread.join(15)
    assert not thread.is_alive()
    runner.stop()  # the engine is gone: nothing to stop


def test_close_stops_the_engine_and_waits_until_it_has_finished():
    runner = Manager()
    thread = running(runner)
    runner.close(timeout=15)
    thread.join(1)  # run() returns as soon as its engine has finished
    assert not thread.is_alive()


def test_a_stopped_manager_can_run_an_engine_again():
    runner = Manager()
    first = running(runner)
    runner.stop()
    first.join(15)
    second = running(runner)
    runner.close(timeout=15)
    second.join(1)
    assert not (first.is_alive() or second.is_alive())
