"""Publisher confirms, asynchronous: each message numbered as it is written,
and the broker's ``Basic.Ack``/``Nack`` (one may cover many messages) matched
to it as they arrive; a batch of messages is told once all of it is answered.

``BlockingChannel.confirm_delivery`` would instead wait a broker round trip,
a disk write, for every single message, and the engine's I/O thread would do
nothing else meanwhile. The confirm mode is therefore turned on at the
asynchronous channel under the blocking one (pika's ``BlockingChannel._impl``),
the one private pika attribute the transport uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from ...errors import BrokerUnavailable, PublishError
from ..base import Confirmed

#: Seconds a blocking ``publish`` waits for the broker's confirms.
CONFIRM_TIMEOUT = 30.0


@dataclass
class Batch:
    """Messages of one ``publish_then`` call, and what the broker said of each."""

    done: Confirmed
    waiting: int
    confirmed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


class Confirms:
    """The messages published on one channel and not yet answered, by number.

    The channel's publish count is each message's sequence number, the
    delivery tag of the broker's ``Basic.Ack``/``Nack``. ``call_later`` (the
    connection's) runs the batches' callbacks after pika's frame handling.
    """

    def __init__(self, call_later: Callable[[float, Callable[[], None]], Any]) -> None:
        self._call_later = call_later
        self._published = 0
        self._unconfirmed: dict[int, tuple[Batch, str]] = {}
        self._returned: set[str] = set()
        self._settled: list[Batch] = []
        self._settle_scheduled = False

    def __len__(self) -> int:
        return len(self._unconfirmed)

    def expect(self, batch: Batch, message_id: str) -> int:
        """Number the next message published: call before writing it, as
        writing the frame also reads what the broker sent, and its confirm
        may be among it."""
        self._published += 1
        self._unconfirmed[self._published] = (batch, message_id)
        return self._published

    def forget(self, number: int) -> None:
        """The message ``number`` was never sent: no confirm will come for it."""
        del self._unconfirmed[number]

    def on_return(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        # A mandatory message no queue took: its Basic.Ack follows.
        self._returned.add(properties.message_id)

    def on_confirm(self, frame: Any) -> None:
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
            self._call_later(0, self._settle)

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


def select(
    connection: pika.BlockingConnection, channel: BlockingChannel, confirms: Confirms
) -> None:
    """Turn on confirm mode on ``channel`` (through its asynchronous channel),
    reporting to ``confirms``, and wait until the broker has."""
    selected: list[object] = []
    impl = channel._impl
    impl.add_on_return_callback(confirms.on_return)
    impl.confirm_delivery(ack_nack_callback=confirms.on_confirm, callback=selected.append)
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while not selected:
        if time.monotonic() > deadline:
            raise BrokerUnavailable("RabbitMQ did not turn on publisher confirms")
        connection.process_data_events(time_limit=0.05)
