"""The engine's work for its worker threads, and how a worker takes it.

The I/O thread puts deliveries in; a worker takes one, and more of them in
one go (a batch, recorded in one transaction) only while more wait than
idle workers would take. Besides deliveries: messages the broker refused,
to write to the outbox, and queues of limited actions to release.
"""

from __future__ import annotations

import queue
import threading
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
    """Tasks for the workers, in order; ``None`` stops the worker that takes it."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        # Workers waiting for a task: a worker takes more than one delivery
        # only when more wait than idle workers could take (see ``batch``).
        self._idle = 0
        self._idle_lock = threading.Lock()

    def put(self, task: Task | None) -> None:
        self._tasks.put(task)

    def next(self) -> Task | None:
        """The next task, waiting for one."""
        with self._idle_lock:
            self._idle += 1
        try:
            return self._tasks.get()
        finally:
            with self._idle_lock:
                self._idle -= 1

    def batch(self, task: Task) -> list[Task]:
        """``task`` and, while more deliveries wait than idle workers would
        take, more of them, up to ``batch_size``: recorded in one transaction
        (``Processor.process_many``). A lone delivery, or one that idle
        workers are free to take, runs on its own at once."""
        batch = [task]
        while len(batch) < self.batch_size and self._tasks.qsize() > self._idle:
            try:
                more = self._tasks.get_nowait()
            except queue.Empty:
                break
            if more is None or more.refused or more.gate is not None:
                self._tasks.put(more)  # a stop, or other work: for the next worker
                break
            batch.append(more)
        return batch
