"""django_saga.transports.amqp.topology: the exchanges and queues declared on RabbitMQ."""

from __future__ import annotations

import pika.exceptions
import pytest

from django_saga.errors import BrokerUnavailable
from django_saga.transports.amqp.topology import declare
from django_saga.transports.base import Topology


class Channel:
    """Notes each declaration and binding; raises ``fail`` at the first queue."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.fail = fail

    def exchange_declare(self, name, exchange_type, durable):
        self.calls.append(("exchange", name, exchange_type, durable))

    def queue_declare(self, name, durable, arguments):
        if self.fail is not None:
            raise self.fail
        self.calls.append(("queue", name, durable, arguments))

    def queue_bind(self, queue, exchange, routing_key=None):
        self.calls.append(("bind", queue, exchange, routing_key))


def topology(queue_type: str = "classic") -> Topology:
    return Topology("sagas", "saga.steps", "saga.compensate", "sagas.dlx", "saga.dead", queue_type)


def test_the_work_queues_dead_letter_to_the_fanout_exchange_and_its_queue():
    channel = Channel()
    declare(channel, topology(), delivery_limit=20)
    work = {"x-queue-type": "classic", "x-dead-letter-exchange": "sagas.dlx"}
    assert channel.calls == [
        ("exchange", "sagas", "direct", True),
        ("exchange", "sagas.dlx", "fanout", True),
        ("queue", "saga.dead", True, {"x-queue-type": "classic"}),
        ("bind", "saga.dead", "sagas.dlx", None),
        ("queue", "saga.urgent", True, work),
        ("bind", "saga.urgent", "sagas", "saga.urgent"),
        ("queue", "saga.steps", True, work),
        ("bind", "saga.steps", "sagas", "saga.steps"),
        ("queue", "saga.compensate", True, work),
        ("bind", "saga.compensate", "sagas", "saga.compensate"),
    ]


def test_quorum_queues_dead_letter_a_message_past_the_delivery_limit():
    channel = Channel()
    declare(channel, topology("quorum"), delivery_limit=7)
    steps = next(c for c in channel.calls if c[:2] == ("queue", "saga.steps"))
    assert steps[3] == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "sagas.dlx",
        "x-delivery-limit": 7,
    }


def test_a_queue_declared_with_other_arguments_is_named_as_the_likely_cause():
    refused = pika.exceptions.ChannelClosedByBroker(406, "PRECONDITION_FAILED - inequivalent arg")
    with pytest.raises(BrokerUnavailable) as failed:
        declare(Channel(refused), topology(), delivery_limit=20)
    assert str(failed.value).startswith(
        "RabbitMQ refused the saga topology (PRECONDITION_FAILED - inequivalent arg); "
        "a queue or exchange of that name may exist with other arguments"
    )


def test_a_lost_connection_while_declaring_is_broker_unavailable():
    with pytest.raises(BrokerUnavailable, match="Declaring the saga topology failed"):
        declare(Channel(pika.exceptions.StreamLostError("gone")), topology(), 20)
