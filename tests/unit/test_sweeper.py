"""django_saga.sweeper: timeouts, deadlines, stale sagas and the runs of
limited actions, one sweep at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_saga import Step, clock
from django_saga.api import Manager
from django_saga.conf import saga_settings
from django_saga.flow.tally import TALLY
from django_saga.messages import EXECUTE
from django_saga.processor import Processor
from django_saga.stores.memory import MemoryStore
from django_saga.sweeper import Sweeper

pytestmark = pytest.mark.django_db


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def test_the_sweeper_fails_an_attempt_past_its_timeout(store, monkeypatch):
    saga = Manager(store).start("order", [Step("a", "test.record", timeout=5)])
    sweeper = Sweeper(store, Processor(store))
    assert sweeper.sweep().timed_out == 0
    later = clock.now() + timedelta(seconds=6)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert sweeper.sweep().timed_out == 1
    step = store.load_saga(saga.id).step("a")
    assert "timeout" in step.history[-1]["error"]
    # The next attempt was dispatched (or the step failed for good): not timed out twice.
    assert sweeper.sweep().timed_out == 0


def test_the_sweeper_compensates_a_saga_past_its_deadline(store, monkeypatch):
    saga = Manager(store).start("order", [Step("a", "test.record")], deadline=60)
    sweeper = Sweeper(store, Processor(store))
    assert sweeper.sweep().deadlines == 0
    later = clock.now() + timedelta(seconds=61)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert sweeper.sweep().deadlines == 1
    loaded = store.load_saga(saga.id)
    assert loaded.state in ("compensating", "compensated")
    assert loaded.error.startswith("deadline ")


def test_the_sweeper_sends_nothing_for_a_stale_saga_whose_retry_waits_in_the_outbox(
    store, monkeypatch
):
    """A retry waiting for its delay has its row: the relay sends it when due."""
    Manager(store).start("order", [Step("a", "test.flaky")])
    processor = Processor(store)
    (first,) = store.claim_due(10, 60)
    store.mark_sent([first.id])
    processor.process(first.body.encode())  # failed once; the retry waits in a row
    later = clock.now() + timedelta(seconds=saga_settings.STALE_AFTER + 60)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert Sweeper(store, processor).sweep_stale() == (1, 0)


def test_a_sweep_hands_the_runs_of_limited_actions_counted_since_the_last_to_the_store(
    store, monkeypatch
):
    reported = []
    monkeypatch.setattr(store, "record_runs", reported.append)
    sweeper = Sweeper(store, Processor(store))
    TALLY.take()
    sweeper.sweep()
    assert reported == []  # nothing ran: nothing written
    TALLY.count(EXECUTE, "payment.charge")
    TALLY.count(EXECUTE, "payment.charge")
    sweeper.sweep()
    assert reported == [{(EXECUTE, "payment.charge"): 2}]
    assert TALLY.take() == {}
