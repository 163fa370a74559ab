"""Publisher confirms against the real RabbitMQ: every message is accounted for.

The engine does not wait for each confirm; it learns later which messages the
broker took, and only those outbox rows are marked sent. A message counted
as confirmed that the broker did not take would be lost; one never counted
would be published again by a relay, and a blocking ``publish`` would hang.
"""

from __future__ import annotations

import pika
import pytest

from django_saga.errors import PublishError
from django_saga.messages import Outgoing
from django_saga.models import new_id
from django_saga.transports import connect

pytestmark = [pytest.mark.rabbitmq]


def _messages(count: int, kind: str = "execute") -> list[Outgoing]:
    return [Outgoing(new_id(), kind, "01SAGA", "{}") for _ in range(count)]


def _serve_until(connection, done, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        connection.process_events(0.1)


def test_each_batch_hears_of_exactly_its_own_messages(amqp):
    connection = connect()
    connection.declare_topology()
    batches = [_messages(1), _messages(50, "compensate"), _messages(200)]
    heard: list[tuple[list[str], PublishError | None]] = []
    for batch in batches:
        connection.publish_then(batch, lambda ids, error: heard.append((ids, error)))
    _serve_until(connection, lambda: len(heard) == len(batches))

    assert [error for _, error in heard] == [None, None, None]
    assert sorted(sorted(ids) for ids, _ in heard) == sorted(
        sorted(m.id for m in batch) for batch in batches
    )
    assert connection.unconfirmed == 0
    assert connection.queue_depth(amqp["STEP_QUEUE"]) == 201
    assert connection.queue_depth(amqp["COMPENSATE_QUEUE"]) == 50
    connection.close()


class _EagerChannel:
    """The real channel, but each publish also reads what the broker answered
    before returning: what pika does whenever the confirm is already there."""

    def __init__(self, connection, channel) -> None:  # type: ignore[no-untyped-def]
        self._connection = connection
        self._channel = channel

    def basic_publish(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._channel.basic_publish(*args, **kwargs)
        self._connection.process_data_events(time_limit=0.05)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._channel, name)


def test_a_confirm_read_while_publishing_is_not_missed(amqp):
    connection = connect()
    connection.declare_topology()
    connection._channel = _EagerChannel(connection._connection, connection._channel)

    # A blocking publish returns only once every message is confirmed.
    connection.publish(_messages(3))
    assert connection.unconfirmed == 0
    assert connection.queue_depth(amqp["STEP_QUEUE"]) == 3
    connection.close()


def test_an_unroutable_message_is_refused_by_id(amqp):
    connection = connect()
    connection.declare_topology()
    raw = pika.BlockingConnection(pika.URLParameters(amqp["BROKER_URL"]))
    raw.channel().queue_unbind(amqp["STEP_QUEUE"], amqp["EXCHANGE"], routing_key=amqp["STEP_QUEUE"])
    raw.close()
    lost, routed = _messages(1), _messages(1, "compensate")

    heard: list[tuple[list[str], PublishError | None]] = []
    connection.publish_then([*lost, *routed], lambda ids, error: heard.append((ids, error)))
    _serve_until(connection, lambda: bool(heard))

    [(confirmed, error)] = heard
    assert confirmed == [routed[0].id]
    assert isinstance(error, PublishError)
    assert lost[0].id in str(error) and routed[0].id not in str(error)
    # The blocking publish raises, and names what the broker did take: a
    # relay marks those sent rather than publishing them again.
    fresh, taken = _messages(1), _messages(2, "compensate")
    with pytest.raises(PublishError, match=fresh[0].id) as raised:
        connection.publish([taken[0], *fresh, taken[1]])
    assert raised.value.confirmed == [m.id for m in taken]
    connection.close()
