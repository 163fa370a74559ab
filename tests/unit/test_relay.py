"""django_saga.relay: the outbox relay, one pass at a time, without its thread."""

from __future__ import annotations

import time
import uuid

import pytest

from django_saga import Step
from django_saga.api import Manager
from django_saga.conf import saga_settings
from django_saga.relay import Relay
from django_saga.stores.memory import MemoryStore
from django_saga.transports import connect
from tests.helpers import unsent

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
    assert unsent(store) == 2
    relay.relay_once()
    assert broker.queue_depth(saga_settings.STEP_QUEUE) == 2
    relay.relay_once()  # leased, then marked sent: never published twice
    assert broker.queue_depth(saga_settings.STEP_QUEUE) == 2
    assert unsent(store) == 0
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


def test_a_relay_lingers_after_a_wake_up_only_while_rows_come_faster_than_it_would_wait(
    store, broker, monkeypatch
):
    from django_saga import relay as relay_module

    # A window wide enough that a slow machine stays inside it (10 rows in it).
    monkeypatch.setattr(relay_module, "BUSY", 5.0)
    monkeypatch.setattr(relay_module, "LINGER", 0.5)
    relay = Relay(store)
    assert not relay.crowded()  # idle: a start's message goes out at once
    Manager(store).start("order", [Step("a", "test.record")])
    relay.relay_once()
    assert not relay.crowded()  # a row now and then: no company to wait for
    for _ in range(round(relay_module.BUSY / relay_module.LINGER)):
        Manager(store).start("order", [Step("a", "test.record")])
    relay.relay_once()
    assert relay.crowded()  # a burst: the rows close behind a wake-up share its claim
    monkeypatch.setattr(relay_module, "BUSY", 0.05)
    time.sleep(0.06)
    assert not relay.crowded()  # the burst is over
