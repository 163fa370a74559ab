"""django_saga.transports.memory: the in-process broker, with RabbitMQ's semantics."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from django_saga.errors import BrokerUnavailable, PublishError
from django_saga.messages import COMPENSATE, EXECUTE, Outgoing
from django_saga.transports.base import QUEUE_HEADER, REASON_HEADER, Delivery, Topology
from django_saga.transports.memory import MemoryConnection, get_broker, reset_broker

TOPOLOGY = Topology("sagas", "saga.steps", "saga.compensate", "sagas.dlx", "saga.dead", "classic")
STEPS, UNDO, DEAD = TOPOLOGY.step_queue, TOPOLOGY.compensate_queue, TOPOLOGY.dead_letter_queue


@pytest.fixture
def url() -> Iterator[str]:
    name = f"memory://{uuid.uuid4().hex}"
    yield name
    reset_broker(name)


@pytest.fixture
def connection(url) -> Iterator[MemoryConnection]:
    opened = MemoryConnection(url, TOPOLOGY)
    opened.declare_topology()
    yield opened
    opened.close()


def message(n: int, kind: str = EXECUTE) -> Outgoing:
    return Outgoing(f"m{n}", kind, "saga-1", f'{{"n": {n}}}')


def consume(connection: MemoryConnection, queue: str, prefetch: int = 10) -> list[Delivery]:
    """Start a consumer and serve the connection once; the deliveries it got."""
    got: list[Delivery] = []
    connection.consume(queue, got.append, prefetch)
    connection.process_events(0)
    return got


def test_each_kind_goes_to_its_queue_and_every_connection_to_the_url_sees_it(url, connection):
    connection.publish([message(1), message(2, COMPENSATE), message(3)])
    other = MemoryConnection(url, TOPOLOGY)
    assert (other.queue_depth(STEPS), other.queue_depth(UNDO)) == (2, 1)
    assert [d.body for d in consume(other, STEPS)] == [b'{"n": 1}', b'{"n": 3}']
    assert MemoryConnection(f"{url}-other", TOPOLOGY).queue_depth(STEPS) == 0
    other.close()


def test_a_consumer_gets_no_more_than_its_prefetch_until_it_acks(connection):
    connection.publish([message(n) for n in range(5)])
    got = consume(connection, STEPS, prefetch=2)
    assert [d.message_id for d in got] == ["m0", "m1"]
    connection.ack(got[0])
    connection.process_events(0)
    assert [d.message_id for d in got] == ["m0", "m1", "m2"]
    assert connection.queue_depth(STEPS) == 2


def test_a_rejected_message_is_requeued_first_and_marked_redelivered(connection):
    connection.publish([message(1), message(2)])
    got = consume(connection, STEPS, prefetch=1)
    connection.reject(got[0], requeue=True)
    connection.process_events(0)
    assert [(d.message_id, d.redelivered) for d in got] == [("m1", False), ("m1", True)]


def test_a_message_rejected_for_good_or_dead_lettered_keeps_why_and_where_from(connection):
    connection.publish([message(1), message(2)])
    got = consume(connection, STEPS)
    connection.reject(got[0], requeue=False)
    connection.dead_letter(got[1], "malformed message: body is not JSON")
    letters = consume(connection, DEAD)
    assert [(d.message_id, d.headers) for d in letters] == [
        ("m1", {REASON_HEADER: "rejected", QUEUE_HEADER: STEPS}),
        ("m2", {REASON_HEADER: "malformed message: body is not JSON", QUEUE_HEADER: STEPS}),
    ]
    assert connection.queue_depth(STEPS) == 0


def test_closing_puts_what_was_not_acked_back_as_redelivered(url, connection):
    connection.publish([message(1), message(2)])
    got = consume(connection, STEPS)
    connection.ack(got[0])
    connection.close()
    again = MemoryConnection(url, TOPOLOGY)
    assert [(d.message_id, d.redelivered) for d in consume(again, STEPS)] == [("m2", True)]
    again.close()


def test_an_unroutable_message_fails_the_publish_naming_what_was_taken(url, connection):
    # A publisher whose compensation queue no exchange binding knows.
    astray = MemoryConnection(url, replace(TOPOLOGY, compensate_queue="saga.nowhere"))
    with pytest.raises(PublishError, match="unroutable") as refused:
        astray.publish([message(1), message(2, COMPENSATE), message(3)])
    assert refused.value.confirmed == ["m1"]
    outcome: list[tuple[list[str], PublishError | None]] = []
    astray.publish_then(
        [message(4), message(5, COMPENSATE), message(6)], lambda *a: outcome.append(a)
    )
    ((confirmed, error),) = outcome
    assert confirmed == ["m4", "m6"] and isinstance(error, PublishError)
    assert connection.queue_depth(STEPS) == 3


def test_a_closed_connection_refuses_work_and_an_unknown_queue_cannot_be_consumed(connection):
    with pytest.raises(BrokerUnavailable, match="No queue 'nowhere'"):
        connection.consume("nowhere", lambda delivery: None, 1)
    connection.close()
    with pytest.raises(BrokerUnavailable, match="closed"):
        connection.publish([message(1)])
    with pytest.raises(BrokerUnavailable, match="closed"):
        connection.process_events(0)


def test_a_threadsafe_call_runs_on_the_thread_serving_the_connection(connection):
    ran_on: list[str] = []
    caller = threading.Thread(
        target=lambda: connection.call_threadsafe(
            lambda: ran_on.append(threading.current_thread().name)
        )
    )
    caller.start()
    caller.join()
    assert ran_on == []
    connection.process_events(0)
    assert ran_on == [threading.current_thread().name]


def test_reset_broker_forgets_every_queue(url, connection):
    connection.publish([message(1)])
    reset_broker(url)
    assert get_broker(url).queues == {}
