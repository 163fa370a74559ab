"""The outbox: nothing is lost between recording a state change and publishing it."""

from __future__ import annotations

import time

import pytest

from django_saga import manager
from django_saga.errors import PublishError
from django_saga.models import OutboxMessage
from django_saga.relay import Relay
from django_saga.stores import get_store
from django_saga.transports import memory
from tests.conftest import wait_for
from tests.helpers import steps, wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def test_start_without_an_engine_keeps_the_message_until_one_runs(run_engine):
    saga = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
    row = OutboxMessage.objects.get(saga_id=saga.id)
    assert row.sent_at is None and row.kind == "execute"
    run_engine()
    assert wait_terminal(saga.id).state == "completed"
    # The relay sent a's message; the engine handed b's over itself, with no row.
    assert list(OutboxMessage.objects.filter(saga_id=saga.id)) == [row]
    wait_for(
        lambda: OutboxMessage.objects.get(pk=row.pk).sent_at is not None,
        5,
        "the start message marked sent",
    )


class _RefusingConnection(memory.MemoryConnection):
    """The engine's own connection: the broker refuses every fast-path publish."""

    def publish_then(self, messages, done):
        done([], PublishError("broker refused (injected)"))


def test_messages_the_broker_refused_to_the_engine_are_relayed(run_engine, monkeypatch):
    monkeypatch.setattr(
        "django_saga.engine.connect",
        lambda url, name: _RefusingConnection(url, memory.Topology.from_settings()),
    )
    engine = run_engine()
    saga = manager.start("order", steps(("a", "test.record", "test.undo"), ("b", "test.fail", "")))
    saga = wait_terminal(saga.id)
    # Every message after the first was committed by the engine, refused by the
    # broker, written to the outbox and published by the relay.
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "failed"]
    assert engine._relay is not None and engine._relay.published == 3
    rows = OutboxMessage.objects.filter(saga_id=saga.id)
    assert rows.count() == 3  # the start message, and the two the broker refused
    wait_for(lambda: not rows.filter(sent_at__isnull=True).exists(), 5, "rows marked sent")


class _PartlyRefusingConnection(memory.MemoryConnection):
    """A relay's connection: the broker takes every message but one saga's."""

    refused_saga = ""

    def publish(self, messages):
        taken = [m for m in messages if m.saga_id != self.refused_saga]
        super().publish(taken)
        if len(taken) < len(messages):
            raise PublishError("refused (injected)", confirmed=[m.id for m in taken])


def test_a_relay_batch_partly_refused_counts_what_the_broker_took_as_sent(monkeypatch):
    sagas = [manager.start("order", steps(("a", "test.record", ""))) for _ in range(3)]
    connection = _PartlyRefusingConnection("memory://", memory.Topology.from_settings())
    connection.refused_saga = sagas[1].id
    connection.declare_topology()
    monkeypatch.setattr("django_saga.relay.connect", lambda url, name: connection)
    relay = Relay(get_store())
    with pytest.raises(PublishError):
        relay.relay_once()
    relay._flush_sent()
    unsent = OutboxMessage.objects.filter(sent_at__isnull=True)
    # The refused one waits for its lease to end; the others are not published again.
    assert list(unsent.values_list("saga_id", flat=True)) == [sagas[1].id]


class _SilentConnection(memory.MemoryConnection):
    """An engine's connection whose publishes the broker never confirms: as
    if the engine stopped between its commit and the confirm."""

    def publish_then(self, messages, done):
        pass  # no confirm: the delivery is never acked


def test_a_step_committed_but_not_handed_over_is_handed_over_by_its_redelivery(
    run_engine, monkeypatch
):
    """Step a commits and its engine publishes b's message, which the broker
    never confirms, then stops: a's message was not acked, so it is delivered
    again; the next engine finds a done, does not run it again, and sends b's
    message, which has no outbox row."""
    monkeypatch.setattr(
        "django_saga.engine.connect",
        lambda url, name: _SilentConnection(url, memory.Topology.from_settings()),
    )
    first = run_engine(shutdown_grace=0.2)
    saga = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
    wait_for(lambda: manager.get(saga.id).step("a").status == "completed", 5, "a to commit")
    first.stop()
    assert first.finished.wait(5)
    assert manager.get(saga.id).step("b").status == "started"  # its message went nowhere
    monkeypatch.undo()
    run_engine()
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    effects = Ledger.objects.filter(step_id__in=[step.id for step in saga.steps])
    assert sorted(effects.values_list("action", flat=True)) == ["do:a", "do:b"]
    assert OutboxMessage.objects.filter(saga_id=saga.id).count() == 1  # start()'s only


def test_a_hand_off_lost_after_its_commit_is_sent_again_once_the_saga_is_stale(store, settings):
    """b's message, published by the engine after a's commit with no outbox
    row, never arrives (a broker lost it): the saga is stale, and the
    sweeper sends it again through the outbox, once."""
    from django_saga.processor import Processor
    from django_saga.sweeper import Sweeper

    settings.SAGA = {**settings.SAGA, "STALE_AFTER": 0.5}
    saga = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
    saga_store = get_store()
    processor = Processor(saga_store)
    (first,) = saga_store.claim_due(10, 60)
    saga_store.mark_sent([first.id])
    handed = processor.process(first.body.encode())
    assert len(handed.outgoing) == 1  # and then lost
    sweeper = Sweeper(saga_store, processor)
    assert sweeper.sweep_stale() == (0, 0)

    time.sleep(0.6)
    assert sweeper.sweep_stale() == (1, 1)
    assert sweeper.sweep_stale() == (0, 0)  # its progress mark moved
    (again,) = saga_store.claim_due(10, 60)
    assert again.body == handed.outgoing[0].body
    processor.process(again.body.encode())
    assert manager.get(saga.id).state == "completed"
    assert Ledger.objects.filter(action="do:b").count() == 1
