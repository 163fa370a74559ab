"""``AmqpConnection``: one thread's connection to RabbitMQ, consuming,
publishing with confirms, acking and dead-lettering.

Work asked of the connection while ``process_events`` dispatches (the
engine's finished steps) is sent when the dispatch ends, in one write:
publishes are queued on pika's asynchronous channel, and acks are merged into
one ``multiple`` ack for every tag below the lowest delivery still unsettled.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pika
import pika.exceptions

from ...conf import broker_urls, safe_url, saga_settings
from ...errors import BrokerUnavailable, PublishError
from ...messages import Outgoing
from ..base import QUEUE_HEADER, REASON_HEADER, Confirmed, Connection, Delivery, Topology
from . import acks
from .confirms import CONFIRM_TIMEOUT, Batch, Confirms, select
from .connect import open_first
from .topology import declare


class AmqpConnection(Connection):
    """A connection to the first of ``urls`` that answers (the nodes of a
    cluster, tried in order); ``url`` is then the one connected to."""

    def __init__(
        self, urls: str | Sequence[str], topology: Topology, name: str = "django-saga"
    ) -> None:
        urls = broker_urls(urls)
        if not urls:
            raise BrokerUnavailable("No RabbitMQ URL given: set SAGA['BROKER_URL']")
        self.topology = topology
        self.url, self._connection, self._channel = open_first(urls, name)
        self._consumers: dict[str, str] = {}
        self._confirms = Confirms(self._connection.call_later)
        # Consumed deliveries not yet acked or rejected, and the acks asked for
        # during the current dispatch (sent when it ends, see _flush_acks).
        self._unsettled: set[int] = set()
        self._acks: list[int] = []
        self._dispatching = False
        self._queued = False  # publishes written during a dispatch, not yet sent
        self._guard(lambda: select(self._connection, self._channel, self._confirms))

    def declare_topology(self) -> None:
        declare(self._channel, self.topology, saga_settings.DELIVERY_LIMIT)

    def consume(self, queue: str, on_message: Callable[[Delivery], None], prefetch: int) -> None:
        self._channel.basic_qos(prefetch_count=prefetch)

        def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            self._unsettled.add(method.delivery_tag)
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

    def publish_then(self, messages: Sequence[Outgoing], done: Confirmed) -> None:
        if not messages:
            done([], None)
            return
        batch = Batch(done, len(messages))
        for message in messages:
            properties = pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=message.id,
                correlation_id=message.saga_id,
                type=message.kind,
            )
            self._send(
                batch,
                message.id,
                self.topology.exchange,
                self.topology.queue_for(message.kind, message.priority),
                message.body.encode(),
                properties,
                mandatory=True,
            )

    def publish(self, messages: Sequence[Outgoing]) -> None:
        outcome: list[tuple[list[str], PublishError | None]] = []
        self.publish_then(messages, lambda confirmed, error: outcome.append((confirmed, error)))
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while not outcome:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishError(
                    f"RabbitMQ did not answer for all {len(messages)} message(s) within "
                    f"{CONFIRM_TIMEOUT:g}s"
                )
            self.process_events(min(remaining, 1.0))
        confirmed, error = outcome[0]
        if error is not None:
            error.confirmed = confirmed
            raise error

    @property
    def unconfirmed(self) -> int:
        return len(self._confirms)

    def _send(
        self,
        batch: Batch,
        message_id: str,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties,
        mandatory: bool = False,
    ) -> None:
        # Numbered before sending: writing the frame also reads what the
        # broker sent, and its confirm may be among it.
        number = self._confirms.expect(batch, message_id)
        # During a dispatch the frame is only queued (pika's asynchronous
        # channel): the acks sent when the dispatch ends carry it out too.
        channel = self._channel._impl if self._dispatching else self._channel
        try:
            channel.basic_publish(
                exchange, routing_key, body, properties=properties, mandatory=mandatory
            )
            self._queued = self._dispatching
        except (pika.exceptions.AMQPError, OSError) as exc:
            # The connection is gone: no confirm will come for this batch.
            self._confirms.forget(number)
            raise PublishError(f"Publishing message {message_id} failed: {exc!r}") from exc

    def ack(self, delivery: Delivery) -> None:
        self._acks.append(delivery.tag)
        if not self._dispatching:
            self._guard(self._flush_acks)

    def _flush_acks(self) -> None:
        """Send the acks asked for, merged (see ``acks.merged``)."""
        tags = sorted(self._acks)
        self._acks = []
        self._unsettled.difference_update(tags)
        merged = acks.merged(tags, min(self._unsettled, default=None))
        if not merged:
            return
        # Queued on pika's asynchronous channel; the last one, through the
        # blocking channel, writes them all in one go.
        for tag, multiple in merged[:-1]:
            self._channel._impl.basic_ack(tag, multiple=multiple)
        tag, multiple = merged[-1]
        self._channel.basic_ack(tag, multiple=multiple)

    def reject(self, delivery: Delivery, requeue: bool) -> None:
        self._unsettled.discard(delivery.tag)
        self._guard(lambda: self._channel.basic_reject(delivery.tag, requeue=requeue))

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        headers = dict(delivery.headers or {})
        headers[REASON_HEADER] = reason[:1000]
        headers[QUEUE_HEADER] = delivery.queue

        def settled(confirmed: list[str], error: PublishError | None) -> None:
            # Acked only once the dead-letter queue holds it. Failing that,
            # rejecting it still dead-letters it through the queue's own
            # argument, minus our header.
            if confirmed:
                self.ack(delivery)
            else:
                self.reject(delivery, requeue=False)

        batch = Batch(settled, 1)
        try:
            self._send(
                batch,
                delivery.message_id or "",
                self.topology.dead_letter_exchange,
                delivery.queue,
                delivery.body,
                pika.BasicProperties(
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=delivery.message_id,
                    headers=headers,
                ),
            )
        except PublishError:
            self.reject(delivery, requeue=False)
            raise

    def process_events(self, time_limit: float) -> None:
        self._dispatching = True
        try:
            self._guard(lambda: self._connection.process_data_events(time_limit=time_limit))
        except BrokerUnavailable:
            self._acks = []  # the channel is gone: the broker redelivers them
            raise
        finally:
            self._dispatching = False
        if self._acks:
            self._guard(self._flush_acks)  # publishes queued meanwhile go first
        elif self._queued:
            self._guard(lambda: self._connection.process_data_events(time_limit=0))
        self._queued = False

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
