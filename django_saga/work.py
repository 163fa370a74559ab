"""The engine's work for its worker threads, and how a worker takes it.

The I/O thread puts deliveries in; a worker takes one, and more of them in
one go (a batch, recorded in one transaction) only while more wait than
idle workers would take. Besides deliveries: messages the broker refused,
to write to the outbox, and queues of limited actions to release.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from .limits import Gate
from .messages import Outgoing
from .transports import Delivery


class Task(NamedTuple):
    """A worker's next job: process ``delivery``, or, when the broker refused
    the messages its step caused, write ``refused`` to the outbox; or run
    what a limited action's queue holds (``gate``, no delivery)."""

    #: The connection's generation when ``delivery`` arrived: a reconnect
    #: bumps it, and results of older deliveries are not acked.
    generation: int
    delivery: Delivery | None
    refused: Sequence[Outgoing] = ()
    gate: Gate | None = None


class WorkQueue:
    """Tasks for the workers; ``None`` stops the worker that takes it.

    Deliveries from the priority queue (``urgent``) go first, but at most
    ``URGENT_STREAK`` in a row while other work waits: a steady stream of
    high-priority sagas slows the others, and never stops them.
    """

    #: Urgent tasks taken in a row before one other waiting task.
    URGENT_STREAK = 4

    def __init__(self, batch_size: int, urgent: str = "") -> None:
        self.batch_size = batch_size
        self.urgent = urgent
        self._ready = threading.Condition()
        self._urgent: deque[Task | None] = deque()
        self._other: deque[Task | None] = deque()
        self._streak = 0
        # Workers waiting for a task: a worker takes more than one delivery
        # only when more wait than idle workers could take (see ``batch``).
        self._idle = 0

    def put(self, task: Task | None) -> None:
        urgent = task is not None and task.delivery is not None
        urgent = urgent and self.urgent != "" and task.delivery.queue == self.urgent  # type: ignore[union-attr]
        with self._ready:
            (self._urgent if urgent else self._other).append(task)
            self._ready.notify()

    def next(self) -> Task | None:
        """The next task, waiting for one."""
        with self._ready:
            self._idle += 1
            try:
                while not (self._urgent or self._other):
                    self._ready.wait()
                return self._take()
            finally:
                self._idle -= 1

    def _take(self) -> Task | None:
        if self._urgent and not (self._other and self._streak >= self.URGENT_STREAK):
            self._streak += 1
            return self._urgent.popleft()
        self._streak = 0
        return self._other.popleft()

    def batch(self, task: Task) -> list[Task]:
        """``task`` and, while more deliveries wait than idle workers would
        take, more of them, up to ``batch_size``: recorded in one transaction
        (``Processor.process_many``). A lone delivery, or one that idle
        workers are free to take, runs on its own at once. Only the queue
        ``task`` came from is drawn on, so urgent work never waits in a batch."""
        batch = [task]
        with self._ready:
            source = (
                self._urgent
                if task.delivery is not None
                and self.urgent
                and (task.delivery.queue == self.urgent)
                else self._other
            )
            while len(batch) < self.batch_size and len(source) > self._idle and source:
                more = source[0]
                if more is None or more.refused or more.gate is not None:
                    break  # a stop, or other work: for the next worker
                source.popleft()
                batch.append(more)
        return batch
