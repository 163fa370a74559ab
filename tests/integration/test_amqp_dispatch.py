"""What the engine asks of its connection while it dispatches, against the real RabbitMQ.

The engine publishes and acks from the I/O thread as steps finish; what is
asked for while one ``process_events`` dispatches goes out when it returns,
the acks as one ``multiple`` ack where that covers exactly them. A
``multiple`` ack that reached a delivery still held back (being
dead-lettered, waiting for the dead-letter queue's confirm) would settle it
early, and its own ack later would make the broker close the channel: every
delivery after it would be redelivered. A publish queued during a dispatch
must reach the broker when the dispatch ends, whether or not acks follow it.
"""

from __future__ import annotations

import time

import pytest

from django_saga.transports import Delivery, connect

from .test_amqp_confirms import _messages

pytestmark = [pytest.mark.rabbitmq]


class _AckLog:
    """The real channel, noting each ``basic_ack`` it is asked for, on the
    blocking channel or on pika's asynchronous one beneath it (``_impl``)."""

    def __init__(self, channel, acks=None) -> None:  # type: ignore[no-untyped-def]
        self._channel = channel
        self.acks: list[tuple[int, bool]] = [] if acks is None else acks
        if hasattr(channel, "_impl"):
            self._impl = _AckLog(channel._impl, self.acks)

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        self.acks.append((delivery_tag, multiple))
        self._channel.basic_ack(delivery_tag, multiple=multiple)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._channel, name)


def _consuming(amqp: dict[str, str], count: int):  # type: ignore[no-untyped-def]
    """A connection holding ``count`` unacked deliveries of the step queue."""
    connection = connect()
    connection.declare_topology()
    connection.publish(_messages(count))
    deliveries: list[Delivery] = []
    connection.consume(amqp["STEP_QUEUE"], deliveries.append, prefetch=count)
    _serve(connection, lambda: len(deliveries) == count)
    assert [d.tag for d in deliveries] == list(range(1, count + 1))
    log = _AckLog(connection._channel)
    connection._channel = log
    return connection, deliveries, log


def _serve(connection, done, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        connection.process_events(0.05)
    assert done(), "the broker did not answer in time"


def _depths(amqp: dict[str, str]) -> tuple[int, int]:
    """Ready messages in the step queue and the dead-letter queue, seen from a
    fresh connection (after the consuming one closed, unacked ones are back)."""
    probe = connect()
    try:
        return probe.queue_depth(amqp["STEP_QUEUE"]), probe.queue_depth(amqp["DEAD_LETTER_QUEUE"])
    finally:
        probe.close()


def test_acks_asked_for_in_one_dispatch_go_as_one(amqp):
    connection, deliveries, log = _consuming(amqp, 5)
    # Out of order, as worker threads finish; all within one dispatch.
    for delivery in (deliveries[3], deliveries[0], deliveries[4], deliveries[2]):
        connection.call_threadsafe(lambda d=delivery: connection.ack(d))
    connection.process_events(0.5)

    # Tags 1, 3, 4, 5: only 1 lies below the unsettled tag 2.
    assert log.acks == [(1, False), (3, False), (4, False), (5, False)]
    log.acks.clear()
    connection.call_threadsafe(lambda: connection.ack(deliveries[1]))
    connection.process_events(0.5)
    assert log.acks == [(2, False)]
    connection.close()
    assert _depths(amqp) == (0, 0)


def test_a_multiple_ack_covers_a_run_of_finished_deliveries(amqp):
    connection, deliveries, log = _consuming(amqp, 6)
    connection.reject(deliveries[1], requeue=False)  # settled already: no gap
    for delivery in (deliveries[2], deliveries[0], deliveries[3]):
        connection.call_threadsafe(lambda d=delivery: connection.ack(d))
    connection.process_events(0.5)

    assert log.acks == [(4, True)]
    connection.ack(deliveries[5])  # outside a dispatch: sent at once
    assert log.acks[-1] == (6, False)
    connection.close()
    # Tag 5 was never acked: back in the queue; tag 2 went to the dead letters.
    assert _depths(amqp) == (1, 1)


def test_a_multiple_ack_stops_below_a_delivery_being_dead_lettered(amqp):
    connection, deliveries, log = _consuming(amqp, 4)
    # Delivery 2 is acked only once the dead-letter queue has confirmed it;
    # 1, 3 and 4 finish in the same dispatch.
    connection.call_threadsafe(lambda: connection.dead_letter(deliveries[1], "bad"))
    for delivery in (deliveries[0], deliveries[2], deliveries[3]):
        connection.call_threadsafe(lambda d=delivery: connection.ack(d))
    connection.process_events(0.5)
    _serve(connection, lambda: any(tag == 2 for tag, _ in log.acks))

    assert sorted(tag for tag, _ in log.acks) == [1, 2, 3, 4]
    assert (1, False) in log.acks and (2, False) in log.acks
    # The channel is still open: no ack named a tag already settled.
    connection.publish(_messages(1))
    connection.close()
    assert _depths(amqp) == (1, 1)


def test_publishes_queued_in_a_dispatch_reach_the_broker_when_it_ends(amqp):
    connection = connect()
    connection.declare_topology()
    messages = _messages(3)
    heard: list[list[str]] = []
    connection.call_threadsafe(
        lambda: connection.publish_then(messages, lambda ids, error: heard.append(ids))
    )
    connection.process_events(0.5)

    # No ack followed them in that dispatch; they reach the broker all the
    # same, with this connection left alone meanwhile.
    deadline = time.monotonic() + 5
    while _depths(amqp) != (3, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _depths(amqp) == (3, 0)
    _serve(connection, lambda: bool(heard))
    assert sorted(heard[0]) == sorted(m.id for m in messages)
    connection.close()
