"""The orchestration engine: consume, process on worker threads, publish, ack.

Threads and who owns what:

* the I/O thread (the one that calls ``run``) owns the consuming broker
  connection: it receives deliveries, publishes the messages a step caused,
  and acks, in that order, only after the step's transaction has committed;
* ``concurrency`` worker threads run handlers and database transactions;
  they never touch the broker connection, they hand results back through
  ``call_threadsafe``;
* the relay thread (see ``relay.py``) publishes whatever the fast path
  could not.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from functools import partial

from django.db import connections

from .conf import saga_settings
from .errors import BrokerUnavailable, PublishError
from .processor import ACK, DEAD_LETTER, REQUEUE, Processor, Result
from .registry import HandlerRegistry, registry
from .relay import Relay
from .stores import Store, get_store
from .transports import Connection, Delivery, connect

logger = logging.getLogger("django_saga.engine")


class Engine:
    def __init__(
        self,
        store: Store | None = None,
        *,
        concurrency: int | None = None,
        prefetch: int | None = None,
        broker_url: str | None = None,
        handlers: HandlerRegistry = registry,
        shutdown_grace: float | None = None,
    ) -> None:
        self.store = store or get_store()
        self.concurrency = concurrency or saga_settings.CONCURRENCY
        self.prefetch = prefetch or saga_settings.PREFETCH
        self.broker_url = broker_url or saga_settings.BROKER_URL
        self.shutdown_grace = (
            saga_settings.SHUTDOWN_GRACE if shutdown_grace is None else shutdown_grace
        )
        self.processor = Processor(self.store, handlers)
        self.ready = threading.Event()
        self.finished = threading.Event()
        self.processed = 0
        self._stopping = threading.Event()
        self._inflight = 0
        self._connection: Connection | None = None
        self._relay: Relay | None = None
        self._tasks: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------
    def connect(self) -> Connection:
        """Open the consuming connection and declare the topology (fails fast)."""
        if self._connection is None:
            connection = connect(self.broker_url, name="django-saga engine")
            try:
                connection.declare_topology()
            except BrokerUnavailable:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def run(self) -> None:
        """Consume until ``stop()``; then let in-flight steps finish and close."""
        connection = self.connect()
        relay = self._relay = Relay(self.store, self.broker_url)
        relay.start()
        self._workers = [
            threading.Thread(target=self._worker, name=f"saga-worker-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for worker in self._workers:
            worker.start()
        try:
            for queue in connection.topology.work_queues:
                connection.consume(queue, self._on_delivery, self.prefetch)
            logger.info(
                "Saga engine consuming %s with concurrency %d, prefetch %d",
                " and ".join(connection.topology.work_queues),
                self.concurrency,
                self.prefetch,
            )
            self.ready.set()
            while not self._stopping.is_set():
                connection.process_events(0.2)
            self._drain(connection)
        finally:
            for _ in self._workers:
                self._tasks.put(None)
            for worker in self._workers:
                worker.join(timeout=1)
            relay.stop()
            relay.join(timeout=10)
            self._close()
            self.finished.set()
            logger.info("Saga engine stopped after %d message(s)", self.processed)

    def stop(self) -> None:
        """Ask ``run()`` to stop consuming and return (any thread, signal handlers too)."""
        self._stopping.set()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # -- the I/O thread -----------------------------------------------------
    def _on_delivery(self, delivery: Delivery) -> None:
        self._inflight += 1
        self._tasks.put(delivery)

    def _drain(self, connection: Connection) -> None:
        connection.cancel_consumers()
        deadline = time.monotonic() + self.shutdown_grace
        while self._inflight and time.monotonic() < deadline:
            connection.process_events(0.1)
        if self._inflight:
            logger.warning(
                "Shutdown grace of %.0fs passed with %d step(s) in flight; "
                "their messages return to the queue",
                self.shutdown_grace,
                self._inflight,
            )

    def _finish(self, delivery: Delivery, result: Result) -> None:
        self._inflight -= 1
        self.processed += 1
        connection = self._connection
        if connection is None:
            return  # closed: the broker requeues the unacked message
        if result.action == DEAD_LETTER:
            connection.dead_letter(delivery, result.reason)
            return
        if result.action != ACK:
            connection.reject(delivery, requeue=True)
            return
        if result.outgoing:
            try:
                connection.publish(result.outgoing)
            except PublishError as exc:
                # The rows stay in the outbox; a relay publishes them after the grace.
                logger.warning("Fast-path publish failed, leaving it to the relay: %s", exc)
            else:
                assert self._relay is not None
                self._relay.mark_sent_later([m.id for m in result.outgoing])
        connection.ack(delivery)

    # -- worker threads -----------------------------------------------------
    def _worker(self) -> None:
        try:
            while (delivery := self._tasks.get()) is not None:
                result = self._process(delivery)
                connection = self._connection
                if connection is not None:
                    connection.call_threadsafe(partial(self._finish, delivery, result))
        finally:
            connections.close_all()

    def _process(self, delivery: Delivery) -> Result:
        try:
            return self.processor.process(delivery.body)
        except Exception as exc:
            if delivery.redelivered:
                logger.exception("Processing failed twice; dead-lettering the message")
                return Result(DEAD_LETTER, reason=f"engine error: {exc!r}")
            logger.exception("Unexpected error processing a message; it will be redelivered")
            return Result(REQUEUE, reason="engine error")
