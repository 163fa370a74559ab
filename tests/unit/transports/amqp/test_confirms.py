"""django_saga.transports.amqp.confirms: the broker's confirms matched to the messages
published, and each batch told once all of it is answered."""

from __future__ import annotations

from types import SimpleNamespace

import pika
import pytest

from django_saga.errors import BrokerUnavailable, PublishError
from django_saga.transports.amqp import confirms
from django_saga.transports.amqp.confirms import Batch, Confirms, select


class Later:
    """The connection's ``call_later``: what it was asked to run, run on demand."""

    def __init__(self) -> None:
        self.calls: list[object] = []

    def __call__(self, delay, fn):
        assert delay == 0
        self.calls.append(fn)

    def run(self) -> None:
        calls, self.calls = self.calls, []
        for fn in calls:
            fn()


def ack(tag: int, multiple: bool = False) -> SimpleNamespace:
    return SimpleNamespace(method=pika.spec.Basic.Ack(delivery_tag=tag, multiple=multiple))


def nack(tag: int) -> SimpleNamespace:
    return SimpleNamespace(method=pika.spec.Basic.Nack(delivery_tag=tag))


def batch(size: int, told: list[tuple[list[str], object]]) -> Batch:
    return Batch(lambda confirmed, error: told.append((confirmed, error)), size)


def test_a_multiple_ack_settles_the_batches_it_covers_after_the_frame():
    later = Later()
    pending = Confirms(later)
    first: list[tuple[list[str], object]] = []
    second: list[tuple[list[str], object]] = []
    one, two = batch(2, first), batch(1, second)
    # Numbered as the channel counts its publishes: the tags of the broker's confirms.
    numbers = [pending.expect(one, "a"), pending.expect(one, "b"), pending.expect(two, "c")]
    assert numbers == [1, 2, 3]
    assert len(pending) == 3
    pending.on_confirm(ack(2, multiple=True))
    assert len(pending) == 1
    # Only bookkeeping inside pika's frame handling: the batch is told later.
    assert first == []
    later.run()
    assert first == [(["a", "b"], None)]
    assert second == []
    pending.on_confirm(ack(3))
    later.run()
    assert second == [(["c"], None)]


def test_a_nacked_or_returned_message_is_refused_by_id():
    later = Later()
    pending = Confirms(later)
    told: list[tuple[list[str], object]] = []
    three = batch(3, told)
    for message_id in ("a", "b", "c"):
        pending.expect(three, message_id)
    pending.on_return(None, None, SimpleNamespace(message_id="b"), b"")
    pending.on_confirm(ack(2, multiple=True))
    pending.on_confirm(nack(3))
    later.run()
    [(confirmed, error)] = told
    assert confirmed == ["a"]
    assert isinstance(error, PublishError)
    assert "did not take message(s) b, c" in str(error)


def test_one_settling_pass_is_scheduled_however_many_confirms_come():
    later = Later()
    pending = Confirms(later)
    told: list[tuple[list[str], object]] = []
    for message_id in ("a", "b"):
        pending.expect(batch(1, told), message_id)
    pending.on_confirm(ack(1))
    pending.on_confirm(ack(2))
    assert len(later.calls) == 1
    later.run()
    assert told == [(["a"], None), (["b"], None)]


def test_a_message_never_sent_is_forgotten_and_unknown_tags_are_ignored():
    pending = Confirms(Later())
    number = pending.expect(batch(1, []), "a")
    pending.forget(number)
    assert len(pending) == 0
    pending.on_confirm(ack(number))  # the broker cannot confirm it; if it did, nothing happens
    assert len(pending) == 0


class Channel:
    """A blocking channel whose asynchronous channel turns confirm mode on
    when the connection has processed events ``after`` times."""

    def __init__(self, connection: Connection) -> None:
        self._impl = self
        self.connection = connection

    def add_on_return_callback(self, callback):
        self.on_return = callback

    def confirm_delivery(self, ack_nack_callback, callback):
        self.on_confirm = ack_nack_callback
        self.connection.selected = callback


class Connection:
    def __init__(self, after: int | None) -> None:
        self.after = after
        self.polls = 0
        self.selected = None

    def process_data_events(self, time_limit: float) -> None:
        self.polls += 1
        if self.polls == self.after:
            self.selected("Confirm.SelectOk")


def test_select_turns_confirm_mode_on_and_waits_for_the_broker():
    connection = Connection(after=3)
    channel = Channel(connection)
    pending = Confirms(Later())
    select(connection, channel, pending)
    assert connection.polls == 3
    assert channel.on_confirm == pending.on_confirm
    assert channel.on_return == pending.on_return


def test_select_gives_up_when_the_broker_does_not_answer(monkeypatch):
    monkeypatch.setattr(confirms, "CONFIRM_TIMEOUT", -1.0)
    connection = Connection(after=None)
    with pytest.raises(BrokerUnavailable, match="did not turn on publisher confirms"):
        select(connection, Channel(connection), Confirms(Later()))
