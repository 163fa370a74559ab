"""The engine's work queue: a worker takes more than one delivery only while
more wait than idle workers would take, and never other kinds of work."""

from __future__ import annotations

from django_saga.limits import Gate
from django_saga.messages import EXECUTE
from django_saga.transports import Delivery
from django_saga.work import Task, WorkQueue


def delivery(n: int) -> Task:
    return Task(0, Delivery(tag=n, queue="saga.steps", body=f"{n}".encode()))


def test_with_no_idle_worker_a_worker_takes_waiting_deliveries_up_to_the_batch_size():
    work = WorkQueue(batch_size=3)
    for n in range(5):
        work.put(delivery(n))
    first = work.next()
    assert first is not None
    assert [t.delivery.tag for t in work.batch(first)] == [0, 1, 2]
    rest = work.next()
    assert rest is not None
    assert [t.delivery.tag for t in work.batch(rest)] == [3, 4]


def test_a_batch_stops_at_a_stop_or_at_work_of_another_kind():
    work = WorkQueue(batch_size=10)
    gate = Gate(EXECUTE, "payment.charge", "", 1)
    work.put(delivery(1))
    work.put(Task(0, None, gate=gate))
    work.put(delivery(2))
    first = work.next()
    assert first is not None
    assert work.batch(first) == [first]
    # The release is the next worker's, whole, and the delivery after it.
    assert [work.next(), work.next()] == [Task(0, None, gate=gate), delivery(2)]
    work.put(delivery(3))
    work.put(None)
    second = work.next()
    assert second is not None and work.batch(second) == [second]
    assert work.next() is None


def urgent(n: int) -> Task:
    return Task(0, Delivery(tag=n, queue="saga.urgent", body=b"u"))


def test_urgent_deliveries_go_first_but_never_starve_the_others():
    work = WorkQueue(batch_size=1, urgent="saga.urgent")
    for n in range(3):
        work.put(delivery(n))
    for n in range(10, 20):
        work.put(urgent(n))
    taken = [work.next() for _ in range(13)]
    tags = [t.delivery.tag for t in taken if t is not None and t.delivery is not None]
    # Four urgent ones, then one other while others wait, and so on.
    assert tags == [10, 11, 12, 13, 0, 14, 15, 16, 17, 1, 18, 19, 2]


def test_a_batch_draws_only_on_the_queue_its_first_delivery_came_from():
    work = WorkQueue(batch_size=5, urgent="saga.urgent")
    work.put(urgent(1))
    work.put(delivery(2))
    work.put(urgent(3))
    first = work.next()
    assert first is not None
    assert [t.delivery.tag for t in work.batch(first)] == [1, 3]
