"""RabbitMQ through pika's BlockingConnection, with publisher confirms.

pika is not thread-safe: each thread opens its own ``AmqpConnection``, and
worker threads hand acks and publishes to the owning thread through
``call_threadsafe`` (pika's ``add_callback_threadsafe``).

Confirms are asynchronous: ``publish_then`` writes the messages and returns,
and the broker's confirms (one ``Basic.Ack`` may cover many messages) are
matched to them as they arrive. ``BlockingChannel.confirm_delivery`` would
instead wait a broker round trip, a disk write, for every single message,
and the engine's I/O thread would do nothing else meanwhile. The confirm
mode is therefore turned on at the asynchronous channel under the blocking
one (pika's ``BlockingChannel._impl``), the one private pika attribute this
module uses.

Work asked of the connection while ``process_events`` dispatches (the
engine's finished steps) is sent when the dispatch ends, in one write:
publishes are queued on that asynchronous channel, and acks are merged into
one ``multiple`` ack for every tag below the lowest delivery still unsettled.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ..conf import broker_urls, safe_url, saga_settings
from ..errors import BrokerUnavailable, PublishError
from ..messages import Outgoing
from .base import QUEUE_HEADER, REASON_HEADER, Confirmed, Connection, Delivery, Topology

logger = logging.getLogger("django_saga.transports.amqp")

#: What a broker that runs answers to a wrong user, password or virtual host.
_REFUSALS = (
    pika.exceptions.ProbableAuthenticationError,
    pika.exceptions.ProbableAccessDeniedError,
    pika.exceptions.AuthenticationError,
    pika.exceptions.ConnectionClosedByBroker,
)

#: Seconds a blocking ``publish`` waits for the broker's confirms.
CONFIRM_TIMEOUT = 30.0


@dataclass
class _Batch:
    """Messages of one ``publish_then`` call, and what the broker said of each."""

    done: Confirmed
    waiting: int
    confirmed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _with_password(url: str, password: str) -> str:
    """``url`` with ``SAGA['BROKER_PASSWORD']`` put in, if one is set (user guest if none)."""
    if not password:
        return url
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user or 'guest'}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


class AmqpConnection(Connection):
    """A connection to the first of ``urls`` that answers (the nodes of a
    cluster, tried in order); ``url`` is then the one connected to."""

    def __init__(
        self, urls: str | Sequence[str], topology: Topology, name: str = "django-saga"
    ) -> None:
        urls = broker_urls(urls)
        if not urls:
            raise BrokerUnavailable("No RabbitMQ URL given: set SAGA['BROKER_URL']")
        self.url = urls[0]
        self.topology = topology
        failures: list[str] = []
        refused: list[bool] = []
        for url in urls:
            params = self._parameters(url, name)
            connection: pika.BlockingConnection | None = None
            try:
                connection = pika.BlockingConnection(params)
                channel = connection.channel()
            except (pika.exceptions.AMQPError, OSError) as exc:
                failures.append(f"{safe_url(url)}: {exc!r}")
                refused.append(isinstance(exc, _REFUSALS))
                if connection is not None and connection.is_open:
                    with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                        connection.close()
                continue
            self.url = url
            self._connection = connection
            self._channel: BlockingChannel = channel
            break
        else:
            error = BrokerUnavailable(f"Cannot connect to RabbitMQ at {'; '.join(failures)}")
            error.refused = all(refused)
            raise error
        if failures:
            logger.warning(
                "Connected to RabbitMQ at %s; not reachable: %s",
                safe_url(self.url),
                "; ".join(failures),
            )
        self._consumers: dict[str, str] = {}
        # Publisher confirms: the channel's publish count is each message's
        # sequence number, the delivery tag of the broker's Basic.Ack/Nack.
        self._published = 0
        self._unconfirmed: dict[int, tuple[_Batch, str]] = {}
        self._returned: set[str] = set()
        self._settled: list[_Batch] = []
        self._settle_scheduled = False
        # Consumed deliveries not yet acked or rejected, and the acks asked for
        # during the current dispatch (sent when it ends, see _flush_acks).
        self._unsettled: set[int] = set()
        self._acks: list[int] = []
        self._dispatching = False
        self._queued = False  # publishes written during a dispatch, not yet sent
        self._guard(self._confirm_mode)

    @staticmethod
    def _parameters(url: str, name: str) -> pika.URLParameters:
        try:
            params = pika.URLParameters(_with_password(url, saga_settings.BROKER_PASSWORD))
        except (ValueError, TypeError) as exc:
            # Not the parser's own words: they may quote the URL, password and all.
            raise BrokerUnavailable(
                f"{safe_url(url)} is not a valid AMQP URL ({type(exc).__name__}): check its "
                "port, and percent-encode a '/', '?', '#' or '@' in the user or password"
            ) from exc
        if "heartbeat" not in url:
            params.heartbeat = saga_settings.HEARTBEAT
        params.connection_attempts = 1
        params.blocked_connection_timeout = 60
        params.client_properties = {"connection_name": name}
        return params

    def _confirm_mode(self) -> None:
        selected: list[object] = []
        channel = self._channel._impl
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=selected.append)
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while not selected:
            if time.monotonic() > deadline:
                raise BrokerUnavailable("RabbitMQ did not turn on publisher confirms")
            self._connection.process_data_events(time_limit=0.05)

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
        batch = _Batch(done, len(messages))
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
                self.topology.queue_for(message.kind),
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
        return len(self._unconfirmed)

    def _send(
        self,
        batch: _Batch,
        message_id: str,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties,
        mandatory: bool = False,
    ) -> None:
        # Numbered before sending: writing the frame also reads what the
        # broker sent, and its confirm may be among it.
        self._published += 1
        self._unconfirmed[self._published] = (batch, message_id)
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
            del self._unconfirmed[self._published]
            raise PublishError(f"Publishing message {message_id} failed: {exc!r}") from exc

    def _on_return(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        # A mandatory message no queue took: its Basic.Ack follows.
        self._returned.add(properties.message_id)

    def _on_confirm(self, frame: Any) -> None:
        """Match the broker's Basic.Ack/Nack to messages (inside pika's frame
        handling: only bookkeeping here, the callbacks run from ``_settle``)."""
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = [method.delivery_tag]
        if method.multiple:
            tags = [t for t in self._unconfirmed if t <= method.delivery_tag]
        for tag in tags:
            entry = self._unconfirmed.pop(tag, None)
            if entry is None:
                continue
            batch, message_id = entry
            if acked and message_id not in self._returned:
                batch.confirmed.append(message_id)
            else:
                self._returned.discard(message_id)
                batch.refused.append(message_id)
            batch.waiting -= 1
            if batch.waiting == 0:
                self._settled.append(batch)
        if self._settled and not self._settle_scheduled:
            self._settle_scheduled = True
            self._connection.call_later(0, self._settle)

    def _settle(self) -> None:
        self._settle_scheduled = False
        settled, self._settled = self._settled, []
        for batch in settled:
            error = None
            if batch.refused:
                error = PublishError(
                    f"RabbitMQ did not take message(s) {', '.join(batch.refused)}: refused, "
                    "or no queue is bound for them (is the topology declared?)"
                )
            batch.done(batch.confirmed, error)

    def ack(self, delivery: Delivery) -> None:
        self._acks.append(delivery.tag)
        if not self._dispatching:
            self._guard(self._flush_acks)

    def _flush_acks(self) -> None:
        """Send the acks asked for: one ``multiple`` ack for those below every
        delivery still unsettled, one each for the rest.

        A ``multiple`` ack covers every unsettled tag up to its own, so it
        must not reach past a delivery still being worked on, nor one held
        back until the dead-letter queue confirms it.
        """
        tags = sorted(self._acks)
        self._acks = []
        self._unsettled.difference_update(tags)
        lowest = min(self._unsettled, default=None)
        below = len(tags) if lowest is None else bisect.bisect_left(tags, lowest)
        acks = [(tags[below - 1], below > 1)] if below else []
        acks += [(tag, False) for tag in tags[below:]]
        if not acks:
            return
        # Queued on pika's asynchronous channel; the last one, through the
        # blocking channel, writes them all in one go.
        for tag, multiple in acks[:-1]:
            self._channel._impl.basic_ack(tag, multiple=multiple)
        tag, multiple = acks[-1]
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

        batch = _Batch(settled, 1)
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
