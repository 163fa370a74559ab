"""PostgreSQL at the driver's level: prepared statements with psycopg 3, and LISTEN/NOTIFY.

The Django store (``stores.django``) runs its per-message statements through
``preparing_cursor()`` when ``SAGA['PREPARED_STATEMENTS']`` is on, and its
relays wait for ``NOTIFY`` through ``PostgresListener``. Nothing here knows
the store's tables: it is the connection, the cursor and the channel.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any, NamedTuple, Protocol

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from .wakeups import OutboxListener, due_times, outbox_written

#: The channel on which clients that wrote outbox rows wake a relay.
NOTIFY_CHANNEL = "django_saga_outbox"


class LossListener(Protocol):
    """Told when PostgreSQL has lost a statement this process prepared."""

    def stop_preparing(self, error: Exception) -> None: ...


def psycopg_available() -> bool:
    """Whether psycopg 3, which the prepared cursor needs, is installed."""
    return _psycopg_kit() is not None


def preparing_cursor(connection: BaseDatabaseWrapper, statements: LossListener) -> Any:
    """A cursor of ``connection`` that binds parameters on the server and
    prepares each statement, so PostgreSQL parses and plans it once per
    connection; errors, query logging and execute wrappers stay Django's.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    kit = _psycopg_kit()
    assert kit is not None
    with connection.wrap_database_errors:
        link = connection.connection
        if link.prepare_threshold is None:
            # Django turns psycopg's preparing off this way, and psycopg
            # then ignores prepare=True too. A count no statement reaches
            # prepares the statements that ask for it, and still none of
            # Django's own.
            link.prepare_threshold = _ONLY_WHEN_ASKED
        raw = kit.cursor_class(link)
        raw.statements = statements
        # Timestamps in Django's time zone, as its own cursors return them.
        raw.adapters.register_loader(kit.timestamptz, kit.zoned_loader(connection.timezone))
        return connection._prepare_cursor(raw)  # type: ignore[attr-defined]


class _PsycopgKit(NamedTuple):
    cursor_class: Any
    zoned_loader: Callable[[Any], Any]
    timestamptz: int


@functools.cache
def _psycopg_kit() -> _PsycopgKit | None:
    """What the prepared cursor needs from psycopg 3, made once (None without it)."""
    try:
        import psycopg
        from psycopg import abc, errors
        from psycopg.adapt import Loader
        from psycopg.pq import Format
    except ImportError:
        return None

    class PreparingCursor(psycopg.RawCursor):  # type: ignore[type-arg]
        """Prepares every statement (wake-ups go through ``pg_notify()``, which,
        unlike ``NOTIFY``, can be prepared).

        Takes Django's ``%s`` placeholders and numbers them once per statement
        (``_numbered``): psycopg parses a statement at every call unless it is
        short and has few parameters, and ``start()``'s insert is neither.
        """

        #: Told when PostgreSQL loses a statement this cursor prepared.
        statements: LossListener | None = None

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            if isinstance(query, str):
                kwargs.setdefault("prepare", True)
                if params is not None:
                    query = _numbered(query)
            try:
                return super().execute(query, params, **kwargs)
            except (errors.InvalidSqlStatementName, errors.DuplicatePreparedStatement) as exc:
                if self.statements is not None:
                    self.statements.stop_preparing(exc)
                # An OperationalError: the engine retries the message on a new
                # connection, where this process no longer prepares.
                raise psycopg.OperationalError(f"prepared statement lost: {exc}") from exc

        def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
            if isinstance(query, str):
                query = _numbered(query)
            return super().executemany(query, params_seq, **kwargs)

        def _send_query_prepared(self, name: bytes, pgq: Any, **kwargs: Any) -> None:
            # psycopg keeps the query object only when it sends the text, and
            # Django's query log (DEBUG, CaptureQueriesContext) reads the SQL there.
            self._query = pgq
            super()._send_query_prepared(name, pgq, **kwargs)

    timestamptz = psycopg.adapters.types["timestamptz"].oid
    # psycopg's own loader: compiled where psycopg's C extension is installed.
    # Django's loader for its time zone subclasses the pure-Python one, which
    # costs a few microseconds per value, and a saga read holds dozens.
    compiled = psycopg.adapters.get_loader(timestamptz, Format.TEXT)
    assert compiled is not None
    parse: type[abc.Loader] = compiled

    @functools.cache
    def zoned_loader(zone: Any) -> type[abc.Loader]:
        if zone is UTC:
            # Django sets the session's time zone to UTC for this zone, and
            # psycopg gives UTC values this very tzinfo: nothing to relabel.
            return parse

        class ZonedTimestamptzLoader(Loader):
            """psycopg's timestamptz loader, its values put in ``zone`` (None: naive)."""

            timezone = zone

            def __init__(self, oid: int, context: Any = None) -> None:
                super().__init__(oid, context)
                self._parse = parse(oid, context).load

            def load(self, data: Any) -> Any:
                return self._parse(data).replace(tzinfo=zone)

        return ZonedTimestamptzLoader

    return _PsycopgKit(PreparingCursor, zoned_loader, timestamptz)


#: psycopg's ``prepare_threshold`` for Django's connections that had none:
#: prepare a statement only when the cursor asks (``prepare=True``).
_ONLY_WHEN_ASKED = 2**62

#: Django's placeholder and its escaped percent sign.
_PLACEHOLDER = re.compile(r"%[s%]")


@functools.lru_cache(maxsize=1024)
def _numbered(query: str) -> bytes:
    """``query`` with PostgreSQL's ``$1, $2, ...`` for Django's ``%s`` (and ``%`` for ``%%``)."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(
        lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", query
    ).encode()


#: The advisory lock (per database) of the relay that answers ``NOTIFY``.
#: Were every engine's relay to listen, each ``start()`` would wake them all
#: and all but one would claim nothing.
LISTENER_LOCK = 0x646A616E676F5341


def _note_due(payload: str) -> None:
    """A client wrote delayed rows due at ``payload`` (seconds since the epoch):
    the relay sleeps no longer than until then."""
    try:
        due = float(payload) if payload else None
    except ValueError:
        return  # someone else's notification on the channel
    if due is not None and math.isfinite(due):
        due_times.add([max(due - time.time(), 0.0)])


class PostgresListener(OutboxListener):
    """Waits for ``NOTIFY`` from any process, on a connection of its own, while
    it holds the listener lock; without it, it waits for this process's writes
    and tries for the lock again at every wait (the other relays poll, so a
    row is relayed within ``RELAY_INTERVAL`` whoever holds it).
    """

    def __init__(self, using: str) -> None:
        wrapper = connections[using]
        self._connection = wrapper.get_new_connection(wrapper.get_connection_params())
        self._connection.autocommit = True
        self.listening = False
        self._try_to_listen()

    def _try_to_listen(self) -> None:
        (locked,) = self._connection.execute(
            "SELECT pg_try_advisory_lock(%s)", [LISTENER_LOCK]
        ).fetchone()
        if locked:  # held until this connection closes, however it ends
            self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self.listening = True

    def wait(self, timeout: float, linger: float = 0.0) -> None:
        if not self.listening:
            self._try_to_listen()
        if not self.listening:
            super().wait(timeout, linger)
            return
        woken = False
        for notice in self._connection.notifies(timeout=timeout, stop_after=1):
            _note_due(notice.payload)
            woken = True
        if woken and linger > 0:
            time.sleep(linger)
        if woken:
            # What else arrived meanwhile: the claim that follows answers it all.
            for notice in self._connection.notifies(timeout=0):
                _note_due(notice.payload)
        outbox_written.clear()

    def close(self) -> None:
        self._connection.close()
