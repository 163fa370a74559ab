"""The outbox relay and the sweeper, one pass at a time, without their threads."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from django_saga import Step, clock
from django_saga.api import Manager
from django_saga.conf import saga_settings
from django_saga.processor import Processor
from django_saga.relay import Relay
from django_saga.stores.memory import MemoryStore
from django_saga.sweeper import Sweeper
from django_saga.transports import connect

pytestmark = pytest.mark.django_db


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def broker(settings):
    """A fresh in-process broker with the queues declared, as an engine would."""
    url = f"memory://{uuid.uuid4().hex}"
    settings.SAGA = {**settings.SAGA, "BROKER_URL": url}
    connection = connect(url)
    connection.declare_topology()
    yield connection
    connection.close()


def test_the_relay_publishes_what_a_client_wrote_once_and_marks_it_sent(store, broker, monkeypatch):
    from django_saga import relay as relay_module

    monkeypatch.setattr(relay_module, "MARK_SENT_EVERY", 0.0)
    Manager(store).start("order", [Step("a", "test.record"), Step("b", "test.record")])
    Manager(store).start("order", [Step("a", "test.record")])
    relay = Relay(store)
    assert store.unsent_count() == 2
    relay.relay_once()
    assert broker.queue_depth(saga_settings.STEP_QUEUE) == 2
    relay.relay_once()  # leased, then marked sent: never published twice
    assert broker.queue_depth(saga_settings.STEP_QUEUE) == 2
    assert store.unsent_count() == 0
    assert relay.published == 2


def test_a_relay_whose_connection_died_while_idle_publishes_at_once(store, broker):
    """The claimed rows go out on a new connection in the same pass, not when
    their lease (PUBLISH_GRACE) ends."""
    relay = Relay(store)
    Manager(store).start("order", [Step("a", "test.record")])
    relay.relay_once()
    assert relay._connection is not None
    relay._connection.close()  # as the broker does to a connection that missed heartbeats

    Manager(store).start("order", [Step("a", "test.record")])
    relay.relay_once()
    assert broker.queue_depth(saga_settings.STEP_QUEUE) == 2
    assert relay.published == 2


def test_an_idle_relay_drops_a_dead_connection_and_opens_one_when_needed(store, broker):
    relay = Relay(store)
    Manager(store).start("order", [Step("a", "test.record")])
    relay.relay_once()
    relay._connection.close()
    relay._keep_alive()  # what the relay does between its waits
    assert relay._connection is None
    Manager(store).start("order", [Step("a", "test.record")])
    relay.relay_once()
    assert broker.queue_depth(saga_settings.STEP_QUEUE) == 2


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
