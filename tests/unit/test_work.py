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
    # The release is another worker's, whole (put back behind the rest).
    assert [work.next(), work.next()] == [delivery(2), Task(0, None, gate=gate)]
    work.put(delivery(3))
    work.put(None)
    second = work.next()
    assert second is not None and work.batch(second) == [second]
    assert work.next() is None
