"""The saga topology declared on RabbitMQ: a direct exchange and the two work
queues bound to it under their own names, and a fanout dead-letter exchange
with its queue, where the work queues dead-letter what they refuse."""

from __future__ import annotations

from typing import Any

import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ...errors import BrokerUnavailable
from ..base import Topology


def declare(channel: BlockingChannel, topology: Topology, delivery_limit: int) -> None:
    """Declare ``topology`` (durable, idempotent); on quorum queues a message
    is dead-lettered after ``delivery_limit`` deliveries."""
    t = topology
    ch = channel
    try:
        ch.exchange_declare(t.exchange, exchange_type="direct", durable=True)
        ch.exchange_declare(t.dead_letter_exchange, exchange_type="fanout", durable=True)
        ch.queue_declare(
            t.dead_letter_queue, durable=True, arguments={"x-queue-type": t.queue_type}
        )
        ch.queue_bind(t.dead_letter_queue, t.dead_letter_exchange)
        arguments: dict[str, Any] = {
            "x-queue-type": t.queue_type,
            "x-dead-letter-exchange": t.dead_letter_exchange,
        }
        if t.queue_type == "quorum":
            # Past this many deliveries RabbitMQ dead-letters the message
            # (to our exchange) instead of redelivering it forever.
            arguments["x-delivery-limit"] = delivery_limit
        for queue in t.work_queues:
            ch.queue_declare(queue, durable=True, arguments=arguments)
            ch.queue_bind(queue, t.exchange, routing_key=queue)
    except pika.exceptions.ChannelClosedByBroker as exc:
        raise BrokerUnavailable(
            f"RabbitMQ refused the saga topology ({exc.reply_text}); a queue or exchange "
            "of that name may exist with other arguments: delete it or pick other names "
            "in SAGA settings"
        ) from exc
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(f"Declaring the saga topology failed: {exc!r}") from exc
