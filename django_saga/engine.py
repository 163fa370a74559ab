"""The orchestration engine: consume, process on worker threads, publish, ack.

Threads and who owns what:

* the I/O thread (the one that calls ``run``) owns the consuming broker
  connection: it receives deliveries; once a step's transaction has
  committed it publishes the messages the step caused (they have no outbox
  row), and acks the delivery when the broker has confirmed them all. Until
  then the delivery stays unacknowledged: if the engine stops, the broker
  delivers it again, and its redelivery sends them again. Messages the
  broker refuses are written to the outbox for the relays, then acked;
* ``concurrency`` worker threads run handlers and database transactions;
  they never touch the broker connection, they hand results back through
  ``call_threadsafe``;
* the relay thread (see ``relay.py``) publishes the outbox: what web
  processes and operators started, delayed retries, and what the broker
  refused to this engine.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from django.db import connections

from .client import Client
from .conf import safe_url, saga_settings
from .errors import BrokerUnavailable, PublishError
from .limits import Gate
from .messages import Outgoing
from .processor import ACK, DEAD_LETTER, REQUEUE, Processor, Result
from .registry import HandlerRegistry, registry
from .relay import Relay
from .release import release
from .schedules.ticker import Ticker
from .stores import Store, get_store
from .stores.django import DjangoStore
from .sweeper import Sweeper
from .transports import Connection, Delivery, connect
from .transports.base import Topology
from .work import Task, WorkQueue

logger = logging.getLogger("django_saga.engine")

MAX_RECONNECT_DELAY = 10.0


class Engine:
    def __init__(
        self,
        store: Store | None = None,
        *,
        concurrency: int | None = None,
        prefetch: int | None = None,
        batch_size: int | None = None,
        broker_url: str | Sequence[str] | None = None,
        handlers: HandlerRegistry = registry,
        shutdown_grace: float | None = None,
    ) -> None:
        self.store = store or get_store()
        self.concurrency = concurrency or saga_settings.CONCURRENCY
        self.prefetch = prefetch or saga_settings.PREFETCH
        self.batch_size = batch_size or saga_settings.BATCH_SIZE
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
        self._tasks = WorkQueue(self.batch_size, Topology.from_settings().priority_queue)
        # Bumped on every reconnect: results of older deliveries are not acked.
        self._generation = 0
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
        """Consume until ``stop()``; then let in-flight steps finish and close.

        A lost broker connection is re-established with capped backoff; what
        was in flight on it is redelivered by the broker and dropped here as
        a duplicate if its result had already committed.
        """
        connection = self.connect()
        try:
            ticker = self._ticker()
        except BaseException:
            self._close()
            raise
        relay = self._relay = Relay(self.store, self.broker_url)
        relay.start()
        sweeper = Sweeper(self.store, self.processor, release=self.release_later)
        sweeper.start()
        self._workers = [
            threading.Thread(target=self._worker, name=f"saga-worker-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for worker in self._workers:
            worker.start()
        try:
            self._consume(connection)
            logger.info(
                "Saga engine consuming %s at %s with concurrency %d, prefetch %d",
                ", ".join(connection.topology.work_queues),
                safe_url(connection.url),
                self.concurrency,
                self.prefetch,
            )
            self.ready.set()
            while not self._stopping.is_set():
                try:
                    connection.process_events(0.2)
                except BrokerUnavailable as exc:
                    logger.warning("Lost the broker: %s", exc)
                    reconnected = self._reconnect()
                    if reconnected is None:
                        break
                    connection = reconnected
            if self._connection is not None:
                self._drain(self._connection)
        finally:
            for _ in self._workers:
                self._tasks.put(None)
            for worker in self._workers:
                worker.join(timeout=1)
            sweeper.stop()
            if ticker is not None:
                ticker.stop()
            relay.stop()
            relay.join(timeout=10)
            sweeper.join(timeout=10)
            if ticker is not None:
                ticker.join(timeout=10)
            self._close()
            self.finished.set()
            logger.info("Saga engine stopped after %d message(s)", self.processed)

    def _ticker(self) -> Ticker | None:
        """Make the rows of the schedules code declares and start the ticker
        (with the Django store, unless ``SCHEDULES`` is off)."""
        if not saga_settings.SCHEDULES or not isinstance(self.store, DjangoStore):
            return None
        ticker = Ticker(self.store.using, Client(self.store))
        report = ticker.begin()
        for verb, names in (("Created", report.created), ("Updated", report.updated)):
            if names:
                logger.info("%s schedule(s) declared in code: %s", verb, ", ".join(names))
        return ticker

    def _consume(self, connection: Connection) -> None:
        for queue_name in connection.topology.work_queues:
            connection.consume(queue_name, self._on_delivery, self.prefetch)

    def _reconnect(self) -> Connection | None:
        """Connect again until it works or the engine is asked to stop."""
        self._close()
        # Deliveries of the lost channel can no longer be acked: forget them.
        self._generation += 1
        self._inflight = 0
        delay = 0.5
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            try:
                connection = self.connect()
                self._consume(connection)
            except BrokerUnavailable as exc:
                self._close()
                logger.warning(
                    "Reconnect attempt %d failed: %s; next in %.1fs", attempt, exc, delay
                )
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)
                continue
            logger.info(
                "Reconnected to the broker at %s after %d attempt(s)",
                safe_url(connection.url),
                attempt,
            )
            return connection
        return None

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
        self._tasks.put(Task(self._generation, delivery))

    def _drain(self, connection: Connection) -> None:
        connection.cancel_consumers()
        deadline = time.monotonic() + self.shutdown_grace
        # In-flight steps finish; then their publishes are confirmed, so that
        # no relay publishes them again after the grace.
        while (self._inflight or connection.unconfirmed) and time.monotonic() < deadline:
            connection.process_events(0.1)
        if self._inflight:
            logger.warning(
                "Shutdown grace of %.0fs passed with %d step(s) in flight; "
                "their messages return to the queue",
                self.shutdown_grace,
                self._inflight,
            )

    def _finish(self, generation: int, delivery: Delivery, result: Result) -> None:
        self.processed += 1
        connection = self._connection
        if connection is None or generation != self._generation:
            # Its channel is gone: the broker redelivers the message, and the
            # rows it wrote wait in the outbox for a relay.
            return
        self._inflight -= 1
        if result.action == DEAD_LETTER:
            connection.dead_letter(delivery, result.reason)
            return
        if result.action != ACK:
            connection.reject(delivery, requeue=True)
            return
        if not result.outgoing:
            connection.ack(delivery)
            return
        # The messages the step caused exist nowhere but here: the delivery
        # is acked only once the broker holds them (or the outbox does).
        self._inflight += 1
        messages = result.outgoing
        try:
            connection.publish_then(
                messages, partial(self._handed_off, generation, delivery, messages)
            )
        except PublishError as exc:
            # The connection is gone: the broker delivers the message again,
            # and its redelivery sends these again.
            self._inflight -= 1
            logger.warning("Lost the broker while publishing the next messages: %s", exc)

    def _handed_off(
        self,
        generation: int,
        delivery: Delivery,
        messages: list[Outgoing],
        confirmed: list[str],
        error: PublishError | None,
    ) -> None:
        """The broker answered for the messages a step caused."""
        if generation != self._generation:
            return  # the channel went: the delivery comes again
        connection = self._connection
        assert connection is not None
        if error is None:
            self._inflight -= 1
            connection.ack(delivery)
            return
        taken = set(confirmed)
        refused = [m for m in messages if m.id not in taken]
        logger.warning(
            "RabbitMQ refused %d message(s) (%s); writing them to the outbox for the relays",
            len(refused),
            error,
        )
        self._tasks.put(Task(generation, delivery, refused))

    def _relayed(self, generation: int, delivery: Delivery, written: bool) -> None:
        """The outbox holds the refused messages (or could not take them)."""
        connection = self._connection
        if connection is None or generation != self._generation:
            return  # the channel went (the in-flight count with it)
        self._inflight -= 1
        if written:
            connection.ack(delivery)
        else:
            # Delivered again, the message finds its step done and sends again.
            connection.reject(delivery, requeue=True)

    def release_later(self, gate: Gate) -> None:
        """Have a worker run what ``gate``'s queue holds (from any thread)."""
        self._tasks.put(Task(self._generation, None, gate=gate))

    # -- worker threads -----------------------------------------------------
    def _worker(self) -> None:
        try:
            while (task := self._tasks.next()) is not None:
                if task.gate is not None:
                    self._release([task.gate])
                    continue
                assert task.delivery is not None
                done: Callable[[], None]
                gates: set[Gate] = set()
                if task.refused:
                    written = self._relay_later(task.refused)
                    done = partial(self._relayed, task.generation, task.delivery, written)
                else:
                    batch = self._tasks.batch(task)
                    results = self._process(batch)
                    done = partial(self._finish_all, batch, results)
                    gates = {gate for result in results for gate in result.gates}
                connection = self._connection
                if connection is not None:
                    # If the connection was lost meanwhile, the message is redelivered.
                    with contextlib.suppress(BrokerUnavailable):
                        connection.call_threadsafe(done)
                if gates:
                    self._release(gates)
        finally:
            connections.close_all()

    def _release(self, gates: set[Gate] | list[Gate]) -> None:
        """Run held messages of ``gates`` while their slots are free."""
        for gate in gates:
            try:
                release(self.processor, gate)
            except Exception:  # a bug or the database: the sweeper tries again
                logger.exception("Could not run the messages held for %s", gate.describe())

    def _relay_later(self, messages: Sequence[Outgoing]) -> bool:
        try:
            self.store.relay_later(messages)
        except Exception:
            logger.exception("Could not write %d refused message(s) to the outbox", len(messages))
            return False
        return True

    def _finish_all(self, batch: list[Task], results: list[Result]) -> None:
        for task, result in zip(batch, results, strict=True):
            assert task.delivery is not None
            self._finish(task.generation, task.delivery, result)

    def _process(self, batch: list[Task]) -> list[Result]:
        deliveries = [task.delivery for task in batch if task.delivery is not None]
        try:
            return self.processor.process_many(
                [(delivery.body, delivery.redelivered) for delivery in deliveries]
            )
        except Exception as exc:  # a safety net: process_many() handles what it knows
            logger.exception("Unexpected error processing %d message(s)", len(batch))
            return [
                Result(DEAD_LETTER, reason=f"engine error: {exc!r}")
                if delivery.redelivered
                else Result(REQUEUE, reason="engine error")
                for delivery in deliveries
            ]
