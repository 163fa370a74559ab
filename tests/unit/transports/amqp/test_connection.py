"""django_saga.transports.amqp.connection: one thread's connection to RabbitMQ."""

from __future__ import annotations

import time

import pytest

from django_saga.errors import BrokerUnavailable
from django_saga.messages import EXECUTE, Outgoing
from django_saga.transports import Delivery, connect
from django_saga.transports.amqp import AmqpConnection
from django_saga.transports.base import QUEUE_HEADER, REASON_HEADER, Topology
from tests.conftest import RABBITMQ_URL

PASSWORD = "hunter2-not-for-logs"


@pytest.mark.rabbitmq
def test_the_engine_connects_with_broker_password(settings):
    without_password = RABBITMQ_URL.replace("guest:guest@", "guest@")
    settings.SAGA = {**settings.SAGA, "BROKER_URL": without_password, "BROKER_PASSWORD": "guest"}
    connect().close()
    settings.SAGA = {**settings.SAGA, "BROKER_PASSWORD": PASSWORD}
    with pytest.raises(BrokerUnavailable) as refused:
        connect()
    assert PASSWORD not in str(refused.value)


def serve(connection, done, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Serve ``connection`` until ``done()`` or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        connection.process_events(0.1)


def test_without_a_url_there_is_nothing_to_connect_to():
    with pytest.raises(BrokerUnavailable, match=r"No RabbitMQ URL given: set SAGA\['BROKER_URL'\]"):
        AmqpConnection([], Topology.from_settings())


@pytest.mark.rabbitmq
def test_a_published_message_is_delivered_with_its_id_and_a_dead_letter_keeps_why(amqp):
    connection = connect()
    try:
        assert isinstance(connection, AmqpConnection)
        connection.declare_topology()
        connection.publish([Outgoing("m1", EXECUTE, "saga-1", '{"n": 1}')])
        assert connection.queue_depth(amqp["STEP_QUEUE"]) == 1
        got: list[Delivery] = []
        connection.consume(amqp["STEP_QUEUE"], got.append, prefetch=5)
        serve(connection, lambda: got)
        [delivery] = got
        assert (delivery.message_id, delivery.body) == ("m1", b'{"n": 1}')

        connection.dead_letter(delivery, "malformed message: " + "x" * 2000)
        serve(connection, lambda: connection.queue_depth(amqp["DEAD_LETTER_QUEUE"]) == 1)
        connection.cancel_consumers()
        letters: list[Delivery] = []
        connection.consume(amqp["DEAD_LETTER_QUEUE"], letters.append, prefetch=5)
        serve(connection, lambda: letters)
        [letter] = letters
        assert letter.message_id == "m1"
        assert letter.headers[QUEUE_HEADER] == amqp["STEP_QUEUE"]
        assert len(letter.headers[REASON_HEADER]) == 1000  # cut, not refused
        connection.ack(letter)
    finally:
        connection.close()
    again = connect()
    try:
        assert again.queue_depth(amqp["STEP_QUEUE"]) == 0  # settled once dead-lettered
    finally:
        again.close()
