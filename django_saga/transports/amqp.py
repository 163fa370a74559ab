"""RabbitMQ through pika's BlockingConnection, with publisher confirms.

pika is not thread-safe: each thread opens its own ``AmqpConnection``, and
worker threads hand acks and publishes to the owning thread through
``call_threadsafe`` (pika's ``add_callback_threadsafe``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ..conf import saga_settings
from ..errors import BrokerUnavailable, PublishError
from ..messages import Outgoing
from .base import QUEUE_HEADER, REASON_HEADER, Connection, Delivery, Topology


def safe_url(url: str) -> str:
    """The URL with its password masked, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        parts = parts._replace(netloc=f"{parts.username}:***@{host}")
    return urlunsplit(parts)


class AmqpConnection(Connection):
    def __init__(self, url: str, topology: Topology, name: str = "django-saga") -> None:
        self.url = url
        self.topology = topology
        params = pika.URLParameters(url)
        if "heartbeat" not in url:
            params.heartbeat = saga_settings.HEARTBEAT
        params.connection_attempts = 1
        params.blocked_connection_timeout = 60
        params.client_properties = {"connection_name": name}
        try:
            self._connection = pika.BlockingConnection(params)
            self._channel: BlockingChannel = self._connection.channel()
            self._channel.confirm_delivery()
        except (pika.exceptions.AMQPError, OSError) as exc:
            raise BrokerUnavailable(
                f"Cannot connect to RabbitMQ at {safe_url(url)}: {exc!r}"
            ) from exc
        self._consumers: dict[str, str] = {}

    def declare_topology(self) -> None:
        t = self.topology
        ch = self._channel
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
                arguments["x-delivery-limit"] = saga_settings.DELIVERY_LIMIT
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

    def consume(self, queue: str, on_message: Callable[[Delivery], None], prefetch: int) -> None:
        self._channel.basic_qos(prefetch_count=prefetch)

        def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            on_message(
                Delivery(
                    tag=method.delivery_tag,
                    queue=queue,
                    body=body,
                    message_id=properties.message_id,
                    redelivered=method.redelivered,
                    headers=properties.headers,
                )
            )

        tag = self._channel.basic_consume(queue, callback, auto_ack=False)
        self._consumers[tag] = queue

    def cancel_consumers(self) -> None:
        for tag in list(self._consumers):
            self._guard(partial(self._channel.basic_cancel, tag))
            del self._consumers[tag]

    def publish(self, messages: Sequence[Outgoing]) -> None:
        for message in messages:
            properties = pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=message.id,
                correlation_id=message.saga_id,
                type=message.kind,
            )
            try:
                self._channel.basic_publish(
                    self.topology.exchange,
                    self.topology.queue_for(message.kind),
                    message.body.encode(),
                    properties=properties,
                    mandatory=True,
                )
            except pika.exceptions.UnroutableError as exc:
                raise PublishError(
                    f"RabbitMQ could not route message {message.id} to queue "
                    f"{self.topology.queue_for(message.kind)!r}; is the topology declared?"
                ) from exc
            except pika.exceptions.NackError as exc:
                raise PublishError(f"RabbitMQ refused message {message.id}") from exc
            except (pika.exceptions.AMQPError, OSError) as exc:
                raise PublishError(f"Publishing message {message.id} failed: {exc!r}") from exc

    def ack(self, delivery: Delivery) -> None:
        self._guard(lambda: self._channel.basic_ack(delivery.tag))

    def reject(self, delivery: Delivery, requeue: bool) -> None:
        self._guard(lambda: self._channel.basic_reject(delivery.tag, requeue=requeue))

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        headers = dict(delivery.headers or {})
        headers[REASON_HEADER] = reason[:1000]
        headers[QUEUE_HEADER] = delivery.queue
        try:
            self._channel.basic_publish(
                self.topology.dead_letter_exchange,
                delivery.queue,
                delivery.body,
                properties=pika.BasicProperties(
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=delivery.message_id,
                    headers=headers,
                ),
            )
        except (pika.exceptions.AMQPError, OSError) as exc:
            # Rejecting without requeue still routes it to the dead-letter
            # exchange through the queue's own argument, minus our header.
            self.reject(delivery, requeue=False)
            raise PublishError(f"Could not dead-letter message: {exc!r}") from exc
        self.ack(delivery)

    def process_events(self, time_limit: float) -> None:
        self._guard(lambda: self._connection.process_data_events(time_limit=time_limit))

    def call_threadsafe(self, fn: Callable[[], None]) -> None:
        self._guard(lambda: self._connection.add_callback_threadsafe(fn))

    def queue_depth(self, queue: str) -> int:
        result = self._guard(lambda: self._channel.queue_declare(queue, passive=True))
        return int(result.method.message_count)

    def close(self) -> None:
        if self._connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                self._connection.close()

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (pika.exceptions.AMQPError, OSError) as exc:
            raise BrokerUnavailable(
                f"Lost the RabbitMQ connection to {safe_url(self.url)}: {exc!r}"
            ) from exc
