"""An in-process broker with the RabbitMQ transport's semantics.

For unit tests and the demo on a machine without RabbitMQ: messages live in
process memory, so every engine and publisher must share the process. One
broker exists per ``memory://NAME`` URL. Unacknowledged messages go back to
their queue when a connection closes, as they would on RabbitMQ.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BrokerUnavailable, PublishError
from ..messages import Outgoing
from .base import QUEUE_HEADER, REASON_HEADER, Confirmed, Connection, Delivery, Topology


@dataclass
class _Message:
    body: bytes
    message_id: str | None
    headers: dict[str, Any] | None = None
    redelivered: bool = False


@dataclass
class _Consumer:
    connection: MemoryConnection
    queue: str
    callback: Callable[[Delivery], None]
    prefetch: int
    unacked: int = 0


@dataclass
class MemoryBroker:
    queues: dict[str, deque[_Message]] = field(default_factory=dict)
    # exchange -> (type, {routing key or "" -> [queues]})
    exchanges: dict[str, tuple[str, dict[str, list[str]]]] = field(default_factory=dict)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def declare_exchange(self, name: str, kind: str) -> None:
        with self.condition:
            self.exchanges.setdefault(name, (kind, {}))

    def declare_queue(self, name: str) -> None:
        with self.condition:
            self.queues.setdefault(name, deque())

    def bind(self, queue: str, exchange: str, key: str) -> None:
        with self.condition:
            kind, bindings = self.exchanges[exchange]
            targets = bindings.setdefault("" if kind == "fanout" else key, [])
            if queue not in targets:
                targets.append(queue)

    def route(self, exchange: str, key: str, message: _Message) -> None:
        with self.condition:
            if exchange not in self.exchanges:
                raise PublishError(f"No exchange {exchange!r} on the in-process broker")
            kind, bindings = self.exchanges[exchange]
            targets = bindings.get("" if kind == "fanout" else key, [])
            if not targets:
                raise PublishError(f"Message to {exchange!r}/{key!r} is unroutable")
            for queue in targets:
                self.queues[queue].append(message)
            self.condition.notify_all()


_brokers: dict[str, MemoryBroker] = {}
_brokers_lock = threading.Lock()


def get_broker(url: str) -> MemoryBroker:
    with _brokers_lock:
        return _brokers.setdefault(url, MemoryBroker())


def reset_broker(url: str) -> None:
    """Forget every queue of ``url``'s broker (between tests)."""
    with _brokers_lock:
        _brokers.pop(url, None)


class MemoryConnection(Connection):
    _tags = itertools.count(1)

    def __init__(self, url: str, topology: Topology) -> None:
        self.url = url
        self.topology = topology
        self.broker = get_broker(url)
        self._consumers: list[_Consumer] = []
        self._unacked: dict[int, tuple[_Consumer, _Message]] = {}
        self._calls: deque[Callable[[], None]] = deque()
        self._open = True

    def declare_topology(self) -> None:
        t = self.topology
        b = self.broker
        b.declare_exchange(t.exchange, "direct")
        b.declare_exchange(t.dead_letter_exchange, "fanout")
        b.declare_queue(t.dead_letter_queue)
        b.bind(t.dead_letter_queue, t.dead_letter_exchange, "")
        for queue in t.work_queues:
            b.declare_queue(queue)
            b.bind(queue, t.exchange, queue)

    def consume(self, queue: str, on_message: Callable[[Delivery], None], prefetch: int) -> None:
        self._check_open()
        if queue not in self.broker.queues:
            raise BrokerUnavailable(f"No queue {queue!r} on the in-process broker")
        self._consumers.append(_Consumer(self, queue, on_message, prefetch))

    def cancel_consumers(self) -> None:
        self._consumers = []

    def publish(self, messages: Sequence[Outgoing]) -> None:
        self._check_open()
        for n, m in enumerate(messages):
            try:
                self.broker.route(
                    self.topology.exchange,
                    self.topology.queue_for(m.kind, m.priority),
                    _Message(m.body.encode(), m.id),
                )
            except PublishError as exc:
                exc.confirmed = [taken.id for taken in messages[:n]]
                raise

    def publish_then(self, messages: Sequence[Outgoing], done: Confirmed) -> None:
        self._check_open()
        confirmed: list[str] = []
        error: PublishError | None = None
        for m in messages:
            try:
                self.publish([m])
            except PublishError as exc:
                error = error or exc
            else:
                confirmed.append(m.id)
        done(confirmed, error)

    def publish_raw(self, queue: str, body: bytes, message_id: str | None = None) -> None:
        """Put any bytes on a work queue (tests of malformed messages)."""
        self.broker.route(self.topology.exchange, queue, _Message(body, message_id))

    def ack(self, delivery: Delivery) -> None:
        consumer, _ = self._unacked.pop(delivery.tag)
        consumer.unacked -= 1
        self._wake()

    def reject(self, delivery: Delivery, requeue: bool) -> None:
        consumer, message = self._unacked.pop(delivery.tag)
        consumer.unacked -= 1
        if requeue:
            message.redelivered = True
            with self.broker.condition:
                self.broker.queues[consumer.queue].appendleft(message)
                self.broker.condition.notify_all()
        else:
            self._to_dead_letters(message, consumer.queue, "rejected")

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        consumer, message = self._unacked.pop(delivery.tag)
        consumer.unacked -= 1
        self._to_dead_letters(message, consumer.queue, reason)

    def _to_dead_letters(self, message: _Message, queue: str, reason: str) -> None:
        headers = dict(message.headers or {})
        headers[REASON_HEADER] = reason
        headers[QUEUE_HEADER] = queue
        self.broker.route(
            self.topology.dead_letter_exchange,
            queue,
            _Message(message.body, message.message_id, headers),
        )

    def call_threadsafe(self, fn: Callable[[], None]) -> None:
        with self.broker.condition:
            self._calls.append(fn)
            self.broker.condition.notify_all()

    def process_events(self, time_limit: float) -> None:
        self._check_open()
        deadline = time.monotonic() + time_limit
        while True:
            did_work = self._run_calls() | self._dispatch()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if not did_work:
                with self.broker.condition:
                    if not self._calls and not self._ready():
                        self.broker.condition.wait(remaining)

    def _run_calls(self) -> bool:
        ran = False
        while True:
            with self.broker.condition:
                if not self._calls:
                    return ran
                fn = self._calls.popleft()
            fn()
            ran = True

    def _ready(self) -> bool:
        return any(
            c.unacked < c.prefetch and self.broker.queues.get(c.queue) for c in self._consumers
        )

    def _dispatch(self) -> bool:
        dispatched = False
        for consumer in list(self._consumers):
            while consumer.unacked < consumer.prefetch:
                with self.broker.condition:
                    queue = self.broker.queues.get(consumer.queue)
                    if not queue:
                        break
                    message = queue.popleft()
                tag = next(self._tags)
                consumer.unacked += 1
                self._unacked[tag] = (consumer, message)
                consumer.callback(
                    Delivery(
                        tag,
                        consumer.queue,
                        message.body,
                        message.message_id,
                        message.redelivered,
                        message.headers,
                    )
                )
                dispatched = True
        return dispatched

    def queue_depth(self, queue: str) -> int:
        with self.broker.condition:
            return len(self.broker.queues.get(queue, ()))

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._consumers = []
        with self.broker.condition:
            for consumer, message in self._unacked.values():
                message.redelivered = True
                self.broker.queues[consumer.queue].appendleft(message)
            self._unacked.clear()
            self.broker.condition.notify_all()

    def _wake(self) -> None:
        with self.broker.condition:
            self.broker.condition.notify_all()

    def _check_open(self) -> None:
        if not self._open:
            raise BrokerUnavailable("The in-process connection is closed")
