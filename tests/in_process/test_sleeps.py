"""Sleep steps with engines running, once per store: woken on time by
whichever engine is up, and never once the saga goes back."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from django_saga import Sleep, Step, manager, parallel
from tests.conftest import wait_for
from tests.helpers import wait_terminal

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_sleep_wakes_on_time_though_its_engine_stopped_while_it_slept(store, run_engine):
    first = run_engine()
    saga = manager.start(
        "reminder",
        [Step("a", "test.record", ""), Sleep("nap", 3), Step("remind", "test.record", "")],
    )
    wait_for(lambda: manager.get(saga.id).step("nap").sleeping_until, 10, "the sleep to begin")
    first.stop()
    assert first.finished.wait(15), "the first engine did not stop"
    run_engine()  # another engine: nothing of the sleep lived in the first one
    saga = wait_terminal(saga.id, timeout=15)
    assert saga.state == "completed"
    nap = saga.step("nap")
    due = datetime.fromisoformat(nap.output["slept_until"])
    assert nap.started_at + timedelta(seconds=3) == due
    assert timedelta(0) <= nap.executed_at - due < timedelta(seconds=1)
    assert saga.step("remind").started_at >= due


def test_a_saga_whose_sibling_fails_does_not_wait_for_its_sleep(store, run_engine):
    run_engine()
    saga = manager.start(
        "reminder",
        [
            Step("a", "test.record", "test.undo"),
            parallel(Sleep("nap", timedelta(days=3)), Step("b", "test.fail", "")),
        ],
    )
    saga = wait_terminal(saga.id, timeout=15)
    assert saga.state == "compensated"
    assert saga.step("nap").status == "cancelled"
    assert saga.step("a").status == "compensated"
