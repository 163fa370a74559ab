"""The transport interface the engine and the relay use.

A ``Connection`` is owned by one thread. Other threads reach it only through
``call_threadsafe``, which runs a function on the owning thread during its
next ``process_events``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..conf import saga_settings
from ..errors import PublishError
from ..messages import COMPENSATE, EXECUTE, KINDS, SETTLE, Outgoing

#: Told, on the connection's thread, which messages the broker confirmed and,
#: if it did not take them all, why.
Confirmed = Callable[[list[str], PublishError | None], None]

#: Header that tells why a message was dead-lettered.
REASON_HEADER = "x-saga-error"
#: Header naming the queue a dead-lettered message came from.
QUEUE_HEADER = "x-saga-queue"


@dataclass(frozen=True)
class Topology:
    exchange: str
    step_queue: str
    compensate_queue: str
    dead_letter_exchange: str
    dead_letter_queue: str
    queue_type: str
    priority_queue: str = "saga.urgent"

    @classmethod
    def from_settings(cls) -> Topology:
        s = saga_settings
        return cls(
            s.EXCHANGE,
            s.STEP_QUEUE,
            s.COMPENSATE_QUEUE,
            s.DEAD_LETTER_EXCHANGE,
            s.DEAD_LETTER_QUEUE,
            s.QUEUE_TYPE,
            s.PRIORITY_QUEUE,
        )

    def queue_for(self, kind: str, priority: int = 0) -> str:
        """Each queue is bound under its own name, so the routing key is the
        queue name. A high-priority saga's messages, whatever their kind,
        go to the priority queue (quorum queues have no priorities of their
        own: a queue that engines take from first stands for them)."""
        if kind not in KINDS:
            raise ValueError(f"No queue for message kind {kind!r}")
        if priority > 0:
            return self.priority_queue
        if kind in (EXECUTE, SETTLE):
            # A child's end moves its parent forward (or back) like a step's.
            return self.step_queue
        if kind == COMPENSATE:
            return self.compensate_queue
        raise ValueError(f"No queue for message kind {kind!r}")

    @property
    def work_queues(self) -> tuple[str, str, str]:
        return (self.priority_queue, self.step_queue, self.compensate_queue)


@dataclass
class Delivery:
    tag: Any
    queue: str
    body: bytes
    message_id: str | None = None
    redelivered: bool = False
    headers: dict[str, Any] | None = None


class Connection(ABC):
    topology: Topology
    #: The broker connected to (one node of a cluster).
    url: str

    @abstractmethod
    def declare_topology(self) -> None:
        """Declare the exchange, both work queues and the dead-letter pair."""

    @abstractmethod
    def consume(self, queue: str, on_message: Callable[[Delivery], None], prefetch: int) -> None:
        """Start one consumer on ``queue``."""

    @abstractmethod
    def cancel_consumers(self) -> None: ...

    @abstractmethod
    def publish(self, messages: Sequence[Outgoing]) -> None:
        """Publish persistently and wait for the broker's confirms; raise PublishError."""

    @abstractmethod
    def publish_then(self, messages: Sequence[Outgoing], done: Confirmed) -> None:
        """Publish persistently without waiting for the broker.

        ``done`` is called on this thread once the broker has answered for
        every message (RabbitMQ's confirms arrive during a later
        ``process_events``). Raises PublishError if nothing can be sent.
        """

    @property
    def unconfirmed(self) -> int:
        """Messages published and not yet confirmed or refused."""
        return 0

    @abstractmethod
    def ack(self, delivery: Delivery) -> None:
        """Settle ``delivery`` as done; asked for during ``process_events``, it
        may go out when that returns, together with others."""

    @abstractmethod
    def reject(self, delivery: Delivery, requeue: bool) -> None: ...

    @abstractmethod
    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move a message to the dead-letter queue with ``reason`` in a header."""

    @abstractmethod
    def process_events(self, time_limit: float) -> None:
        """Serve the connection (deliveries, heartbeats, threadsafe calls) for a while."""

    @abstractmethod
    def call_threadsafe(self, fn: Callable[[], None]) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (not counting unacknowledged ones)."""
