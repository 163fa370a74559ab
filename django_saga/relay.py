"""The outbox relay: publishes what was committed but not yet confirmed sent.

It runs in its own thread with its own broker connection. It takes rows that
clients wrote (``start()``, ``compensate()``) at once, and rows an engine
wrote only after that engine's publish grace has passed (the engine died, or
the broker refused it). It also marks rows sent in batches for the engine's
fast path, and purges old sent rows.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence

from django.db import DatabaseError, connections

from .conf import saga_settings
from .connections import close_broken_connections
from .errors import BrokerUnavailable, PublishError
from .messages import Outgoing
from .stores import Store
from .stores.wakeups import OutboxListener, due_times, outbox_written
from .transports import Connection, connect

logger = logging.getLogger("django_saga.relay")

PURGE_EVERY = 60.0
MAX_BACKOFF = 10.0
#: Published rows are marked sent at most this often (seconds), in one
#: statement, however often clients wake the relay: their claim keeps other
#: relays off them for PUBLISH_GRACE anyway.
MARK_SENT_EVERY = 0.25
#: A relay that rows reach faster than one a LINGER (it claimed at least
#: BUSY / LINGER rows over the last BUSY seconds) waits this long after being
#: woken before it claims, so that the rows of several start() calls go out
#: in one claim and one publish. At a lower rate no row would keep it
#: company: it claims at once, and a start's first message is not delayed.
LINGER = 0.01
BUSY = 0.1


class Relay(threading.Thread):
    def __init__(self, store: Store, broker_url: str | Sequence[str] | None = None) -> None:
        super().__init__(name="saga-relay", daemon=True)
        self.store = store
        self.broker_url = broker_url
        self._stop_event = threading.Event()
        self._sent: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._connection: Connection | None = None
        self._last_purge = 0.0
        self._last_marked = 0.0
        # (when, rows) of the claims of the last BUSY seconds: the arrival rate.
        self._claims: collections.deque[tuple[float, int]] = collections.deque()
        self._listener: OutboxListener | None = None
        self.published = 0

    def mark_sent_later(self, ids: list[str]) -> None:
        """Rows the broker confirmed: marked sent with the next pass."""
        for message_id in ids:
            self._sent.put(message_id)

    def stop(self) -> None:
        self._stop_event.set()
        outbox_written.set()

    def run(self) -> None:
        backoff = 0.5
        try:
            # Listen before the first pass: rows written until then are found
            # by that pass, rows written after it wake the relay.
            self._listen()
            while not self._stop_event.is_set():
                try:
                    more = self.relay_once()
                    backoff = 0.5
                except (BrokerUnavailable, DatabaseError) as exc:
                    logger.warning("Outbox relay: %s; retrying in %.1fs", exc, backoff)
                    self._drop_broker()
                    self._stop_event.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                if not more:
                    self._wait()
                    self._keep_alive()
        finally:
            if self._listener is not None:
                self._listener.close()
            try:
                self._flush_sent()
            except DatabaseError as exc:
                logger.warning("Outbox relay could not mark the last rows sent: %s", exc)
            self._drop_broker()
            connections.close_all()

    def _wait(self) -> None:
        """Until a client writes rows (any process, on PostgreSQL), a delayed row
        of this process comes due, or the poll interval."""
        interval = due_times.seconds_until_next(saga_settings.RELAY_INTERVAL)
        if self._connection is not None and saga_settings.HEARTBEAT > 0:
            # Back in time to answer the broker's heartbeats (_keep_alive).
            interval = min(interval, saga_settings.HEARTBEAT / 4)
        try:
            listener = self._listener or self.store.outbox_listener()
            self._listener = listener
            listener.wait(interval, LINGER if self.crowded() else 0.0)
        except Exception as exc:  # the listening connection broke: poll, then try again
            logger.warning("Outbox relay cannot listen for new rows (%s); polling", exc)
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    self._listener.close()
                self._listener = None
            self._stop_event.wait(interval)

    def crowded(self) -> bool:
        """Whether rows came at more than one a ``LINGER`` lately: a wake-up
        is then worth lingering after, for the rows close behind it."""
        now = time.monotonic()
        claims = self._claims
        while claims and now - claims[0][0] > BUSY:
            claims.popleft()
        return sum(rows for _, rows in claims) * LINGER >= BUSY

    def _keep_alive(self) -> None:
        """Serve the idle broker connection's heartbeats.

        A connection that only waits reads nothing and sends nothing: the
        broker closes it once its heartbeat timeout passes, and the first
        publish after a quiet spell would find it dead.
        """
        if self._connection is None:
            return
        try:
            self._connection.process_events(0)
        except BrokerUnavailable as exc:
            logger.info("Outbox relay: the idle broker connection closed (%s); reconnecting", exc)
            self._drop_broker()

    def _listen(self) -> None:
        try:
            self._listener = self.store.outbox_listener()
        except Exception as exc:  # _wait() tries again, polling meanwhile
            logger.warning("Outbox relay cannot listen for new rows yet (%s)", exc)

    def relay_once(self) -> bool:
        """One pass; returns True if a full batch was published (more may wait)."""
        close_broken_connections()
        batch = saga_settings.RELAY_BATCH
        claimed = self.store.claim_due(batch, saga_settings.PUBLISH_GRACE)
        if claimed:
            self._publish(claimed)
            # Confirmed: marked sent with the next batch (their lease keeps
            # other relays off them until then).
            self.mark_sent_later([m.id for m in claimed])
            self.published += len(claimed)
            self._claims.append((time.monotonic(), len(claimed)))
            logger.debug("Outbox relay published %d message(s)", len(claimed))
        # After the publish: marking rows sent never delays a message.
        now = time.monotonic()
        if now - self._last_marked >= MARK_SENT_EVERY:
            self._last_marked = now
            self._flush_sent()
        if now - self._last_purge > PURGE_EVERY:
            self._last_purge = now
            self.store.purge_sent(saga_settings.OUTBOX_RETENTION)
        return len(claimed) == batch

    def _publish(self, claimed: list[Outgoing]) -> None:
        """Publish ``claimed`` and wait for the broker's confirms.

        A connection kept from an earlier pass may have died meanwhile (a
        broker restart, a network cut): the claimed rows then go out at once
        on a new one, rather than when their lease ends.
        """
        kept = self._connection is not None
        if self._connection is None:
            self._connection = connect(self.broker_url, name="django-saga relay")
        try:
            self._connection.publish(claimed)
            return
        except BrokerUnavailable as exc:
            confirmed = exc.confirmed if isinstance(exc, PublishError) else []
            self.mark_sent_later(confirmed)
            if not kept:
                # What the broker took is sent; the rest comes due again
                # when its lease ends.
                raise
            logger.info("Outbox relay: the broker connection was lost (%s); reconnecting", exc)
            self._drop_broker()
            taken = set(confirmed)
            claimed = [m for m in claimed if m.id not in taken]
        self._connection = connect(self.broker_url, name="django-saga relay")
        try:
            self._connection.publish(claimed)
        except PublishError as exc:
            self.mark_sent_later(exc.confirmed)
            raise

    def _flush_sent(self) -> None:
        ids = []
        while True:
            try:
                ids.append(self._sent.get_nowait())
            except queue.Empty:
                break
        if ids:
            try:
                self.store.mark_sent(ids)
            except DatabaseError:
                for message_id in ids:
                    self._sent.put(message_id)
                raise

    def _drop_broker(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
