"""example_project.shop.demo.topology: the demo's queues and exchanges deleted from
RabbitMQ, unless something still uses them."""

from __future__ import annotations

import pika
import pytest

from django_saga.conf import saga_settings
from django_saga.transports import connect
from example_project.shop.demo.topology import delete_topology
from tests.conftest import RABBITMQ_URL


def test_what_could_not_be_reached_is_left_named_with_how_to_delete_it_later():
    gone, said = delete_topology("amqp://guest:guest@127.0.0.1:1/%2F")
    assert not gone
    lines = said.splitlines()
    assert lines[0] == "RabbitMQ: the demo left these in vhost '/':"
    left = [line.split(":")[0] for line in lines[1:-1]]
    assert left == [
        f"  queue {saga_settings.STEP_QUEUE}",
        f"  queue {saga_settings.COMPENSATE_QUEUE}",
        f"  queue {saga_settings.PRIORITY_QUEUE}",
        f"  queue {saga_settings.DEAD_LETTER_QUEUE}",
        f"  exchange {saga_settings.EXCHANGE}",
        f"  exchange {saga_settings.DEAD_LETTER_EXCHANGE}",
    ]
    assert all(": could not connect: " in line for line in lines[1:-1])
    assert lines[-1] == (
        "Delete them once nothing uses them: ./run demo --delete-topology "
        "(python manage.py saga_demo --delete-topology)"
    )


@pytest.mark.rabbitmq
def test_a_declared_topology_is_deleted_whole(amqp):
    connection = connect(RABBITMQ_URL)
    connection.declare_topology()
    connection.close()
    gone, said = delete_topology(RABBITMQ_URL)
    assert gone
    assert said == (
        f"RabbitMQ: deleted the demo's queues ({amqp['STEP_QUEUE']}, "
        f"{amqp['COMPENSATE_QUEUE']}, {amqp['PRIORITY_QUEUE']}, {amqp['DEAD_LETTER_QUEUE']}) "
        "and exchanges "
        f"({amqp['EXCHANGE']}, {amqp['DEAD_LETTER_EXCHANGE']}) from vhost '/'"
    )


@pytest.mark.rabbitmq
def test_a_queue_in_use_and_its_exchange_are_left(amqp):
    connection = connect(RABBITMQ_URL)
    connection.declare_topology()
    connection.close()
    consumer = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        consumer.channel().basic_consume(amqp["DEAD_LETTER_QUEUE"], lambda *args: None)
        gone, said = delete_topology(RABBITMQ_URL)
    finally:
        consumer.close()
    assert not gone
    assert said.splitlines()[1:3] == [
        f"  queue {amqp['DEAD_LETTER_QUEUE']}: in use: something still consumes from it "
        "(an engine of the shop?)",
        f"  exchange {amqp['DEAD_LETTER_EXCHANGE']}: in use: a queue is still bound to it",
    ]
