"""The default store: Django models, row locks, and the outbox table."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Prefetch
from django.db.models.functions import Now
from django.utils import timezone

from .. import clock
from ..conf import saga_settings
from ..errors import SagaNotFound
from ..messages import Outgoing
from ..models import IN_FLIGHT, OutboxMessage, Saga, SagaState, SagaStep
from .base import Busy, HandUpdates, OutboxListener, Unit, due_times, outbox_written
from .rows import Table

#: Sets a step's cached saga without a query.
_SAGA_FIELD = SagaStep._meta.get_field("saga")

#: The PostgreSQL channel on which clients announce new outbox rows.
NOTIFY_CHANNEL = "django_saga_outbox"


class DjangoUnit(Unit):
    def __init__(self, store: DjangoStore, saga: Saga, step: SagaStep | None, fast_path: bool):
        super().__init__(fast_path)
        self.store = store
        self.saga = saga
        self.step = step
        self._steps: list[SagaStep] | None = None
        # A saga created in this unit: rows are inserted as they stand at flush,
        # so changes made before then cost no UPDATE.
        self._new = False
        # lock_saga() set the saga's updated_at already.
        self._touched = False
        self._cursor: Any = None

    @property
    def cursor(self) -> Any:
        """One cursor for the unit's statements (closed by ``close()``)."""
        if self._cursor is None:
            self._cursor = self.store.tables().cursor()
        return self._cursor

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def after_commit(self, fn: Callable[[], None]) -> None:
        transaction.on_commit(fn, using=self.store.using, robust=True)

    def lock_saga(self) -> list[SagaStep]:
        if self._steps is None:
            db = self.store.using
            tables = self.store.tables()
            saga, steps = tables.saga, tables.step
            cursor = self.cursor
            # Locks the saga row and marks progress in one statement; the
            # row read back is the latest committed one.
            cursor.execute(tables.touch_saga, [tables.now(), self.saga.pk])
            fresh = saga.instance(cursor.fetchone(), db)
            # A separate statement, after the lock is held: under READ
            # COMMITTED it sees every step committed while this unit
            # waited for the saga row (one joined statement would not).
            cursor.execute(tables.saga_steps, [self.saga.pk])
            rows = cursor.fetchall()
            # Refresh in place: the handler and the caller hold this instance.
            for field in saga.fields:
                setattr(self.saga, field.attname, getattr(fresh, field.attname))
            self._touched = True
            loaded = [steps.instance(row, db) for row in rows]
            if self.step is not None:
                loaded = [self.step if s.pk == self.step.pk else s for s in loaded]
            self._set_steps(loaded)
        assert self._steps is not None
        return self._steps

    def _set_steps(self, steps: list[SagaStep]) -> None:
        for step in steps:
            _SAGA_FIELD.set_cached_value(step, self.saga)
        self.saga.set_steps(steps)
        self._steps = steps

    def save_step(self, step: SagaStep, fields: Sequence[str]) -> None:
        if not self._new:
            self.store.tables().step.update(self.cursor, step, [*fields, "updated_at"])

    def save_saga(self, fields: Sequence[str]) -> None:
        if self._new or (self._touched and not fields):
            return  # a new saga is inserted at flush; a locked one is already touched
        self.store.tables().saga.update(self.cursor, self.saga, [*fields, "updated_at"])

    def flush(self) -> None:
        """Write new rows and the outbox rows: the last statements before commit."""
        db = self.store.using
        tables = self.store.tables()
        if self._new:
            tables.saga.insert_many(self.cursor, [self.saga])
            tables.step.insert_many(self.cursor, self.saga.steps)
        rows = self.rows()
        if not rows:
            return
        if self.delayed:
            # Noted before the commit, so a relay that the commit wakes knows
            # how long to sleep (a rollback only costs it one early wake-up).
            due_times.add([delay for _, delay in self.delayed])
        tables.outbox.insert_many(
            self.cursor,
            [
                OutboxMessage(
                    id=m.id, saga_id=m.saga_id, kind=m.kind, body=m.body, available_at=available
                )
                for m, available in rows
            ],
        )
        if self.delayed or (self.outgoing and not self.fast_path):
            # Wake the relays, here and in other processes: PostgreSQL delivers
            # the notification on commit. (For delayed rows it makes this
            # process's relay sleep only until they come due.)
            transaction.on_commit(outbox_written.set, using=db)
            if connections[db].vendor == "postgresql":
                self.cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")


class Statements:
    """The per-message statements for one database (see ``rows``)."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.alias = connection.alias
        self.prepared = (
            connection.vendor == "postgresql"
            and saga_settings.PREPARED_STATEMENTS
            and _psycopg_kit() is not None
        )
        self.saga = Table(Saga, connection)
        self.step = Table(SagaStep, connection)
        self.outbox = Table(OutboxMessage, connection)
        step, saga = self.step, self.saga
        features = connection.features
        lock = ""
        if features.has_select_for_update_of:
            lock = f" FOR UPDATE OF {step.name}"
        elif features.has_select_for_update:
            lock = " FOR UPDATE"
        self.lock_step = (
            f"SELECT {step.columns}, {saga.columns} FROM {step.name} "
            f"INNER JOIN {saga.name} ON {step.column('saga')} = {saga.column('id')} "
            f"WHERE {step.column('id')} = %s{lock}"
        )
        self.touch_saga = (
            f"UPDATE {saga.name} SET {connection.ops.quote_name('updated_at')} = %s "
            f"WHERE {saga.pk_column} = %s RETURNING {saga.bare_columns}"
        )
        self.saga_steps = (
            f"SELECT {step.columns} FROM {step.name} WHERE {step.column('saga')} = %s "
            f"ORDER BY {step.column('position')}"
        )
        self._updated_at = Saga._meta.get_field("updated_at")
        outbox, quote = self.outbox, connection.ops.quote_name
        sent_at, available_at = outbox.column("sent_at"), outbox.column("available_at")
        skip_locked = (
            " FOR UPDATE SKIP LOCKED" if features.has_select_for_update_skip_locked else ""
        )
        self.claim_outbox = (
            f"UPDATE {outbox.name} SET {quote('available_at')} = %s WHERE {outbox.pk_column} IN ("
            f"SELECT {outbox.column('id')} FROM {outbox.name} WHERE {sent_at} IS NULL AND "
            f"{available_at} <= %s ORDER BY {available_at} LIMIT %s{skip_locked}) "
            f"RETURNING {quote('id')}, {quote('kind')}, {quote('saga_id')}, {quote('body')}"
        )
        self._mark_sent = (
            f"UPDATE {outbox.name} SET {quote('sent_at')} = %s WHERE {outbox.pk_column}"
        )
        self._arrays = connection.vendor == "postgresql"
        self._outbox_time = OutboxMessage._meta.get_field("available_at")

    def cursor(self) -> Any:
        """A cursor of this thread's connection for the statements above.

        On PostgreSQL (psycopg 3) it binds parameters on the server and
        prepares each statement, so PostgreSQL parses and plans it once per
        connection; errors, query logging and execute wrappers are Django's.
        """
        connection = connections[self.alias]
        if not self.prepared:
            return connection.cursor()
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        kit = _psycopg_kit()
        assert kit is not None
        with connection.wrap_database_errors:
            raw = kit.cursor_class(connection.connection)
            # As Django does for its own cursors: its time zone, if the
            # connection's loader disagrees.
            loader = connection.connection.adapters.get_loader(kit.timestamptz, kit.text)
            if connection.timezone != getattr(loader, "timezone", None):
                kit.register_tzloader(connection.timezone, raw)
            return connection._prepare_cursor(raw)  # type: ignore[attr-defined]

    def now(self) -> Any:
        """The time as the saga's ``updated_at`` column takes it."""
        return self._updated_at.get_db_prep_save(timezone.now(), self.connection)

    def outbox_time(self, moment: datetime) -> Any:
        """``moment`` as the outbox's time columns take it."""
        return self._outbox_time.get_db_prep_save(moment, self.connection)

    def mark_sent(self, ids: list[str]) -> tuple[str, list[Any]]:
        """The statement marking ``ids`` sent, and its id parameters."""
        if self._arrays:  # one array parameter, whatever the batch size
            return f"{self._mark_sent} = ANY(%s)", [ids]
        return f"{self._mark_sent} IN ({', '.join(['%s'] * len(ids))})", ids


class _PsycopgKit(NamedTuple):
    cursor_class: Any
    register_tzloader: Callable[[Any, Any], None]
    timestamptz: int
    text: Any


@functools.cache
def _psycopg_kit() -> _PsycopgKit | None:
    """What the prepared cursor needs from psycopg 3, imported once (None without it)."""
    try:
        import psycopg
        from django.db.backends.postgresql.psycopg_any import register_tzloader
        from psycopg.pq import Format
    except ImportError:
        return None

    class PreparingCursor(psycopg.Cursor):  # type: ignore[type-arg]
        """Prepares every statement but ``NOTIFY`` (which cannot be prepared)."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            if "prepare" not in kwargs and isinstance(query, str):
                kwargs["prepare"] = not query.startswith("NOTIFY")
            return super().execute(query, params, **kwargs)

    return _PsycopgKit(
        PreparingCursor, register_tzloader, psycopg.adapters.types["timestamptz"].oid, Format.TEXT
    )


class PostgresListener(OutboxListener):
    """Waits for ``NOTIFY`` from any process, on a connection of its own."""

    def __init__(self, using: str) -> None:
        wrapper = connections[using]
        self._connection = wrapper.get_new_connection(wrapper.get_connection_params())
        self._connection.autocommit = True
        self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait(self, timeout: float) -> None:
        for _ in self._connection.notifies(timeout=timeout, stop_after=1):
            pass
        outbox_written.clear()

    def close(self) -> None:
        self._connection.close()


class DjangoStore(HandUpdates):
    """Sagas in the database; every change is one transaction with row locks."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self._tables: Statements | None = None

    # -- the spec's protocol -------------------------------------------------
    def save_saga(self, saga: Saga) -> None:
        steps = saga.steps
        with transaction.atomic(using=self.using):
            saga.save(using=self.using)
            for position, step in enumerate(steps):
                step.saga = saga
                step.position = position
                step.save(using=self.using)

    def load_saga(self, saga_id: str) -> Saga:
        saga = self._sagas().filter(pk=saga_id).first()
        if saga is None:
            raise SagaNotFound(f"No saga with id {saga_id!r}")
        return _with_steps(saga)

    def delete_saga(self, saga_id: str) -> None:
        deleted, _ = Saga.objects.using(self.using).filter(pk=saga_id).delete()
        if not deleted:
            raise SagaNotFound(f"No saga with id {saga_id!r}")

    def list_active_sagas(self) -> list[Saga]:
        return [_with_steps(s) for s in self._sagas().active().order_by("created_at")]

    # -- units of work -----------------------------------------------------
    @contextmanager
    def create(self, saga: Saga, steps: list[SagaStep]) -> Iterator[Unit]:
        with transaction.atomic(using=self.using):
            unit = DjangoUnit(self, saga, None, fast_path=False)
            unit._new = True
            unit._set_steps(steps)
            try:
                yield unit
                unit.flush()
            finally:
                unit.close()

    @contextmanager
    def open_step(
        self, saga_id: str, step_id: str, fast_path: bool = True, timed_out: bool = False
    ) -> Iterator[Unit | None]:
        with transaction.atomic(using=self.using):
            found = self._timed_out_step(step_id) if timed_out else self._lock_step(step_id)
            if found is None or found.saga_id != saga_id:
                yield None
                return
            unit = DjangoUnit(self, found.saga, found, fast_path)
            try:
                yield unit
                unit.flush()
            finally:
                unit.close()

    def _lock_step(self, step_id: str) -> SagaStep | None:
        """The step row, locked, with its saga (read, not locked)."""
        tables = self.tables()
        with self.tables().cursor() as cursor:
            cursor.execute(tables.lock_step, [step_id])
            row = cursor.fetchone()
        if row is None:
            return None
        step = tables.step.instance(row[: tables.step.width], self.using)
        _SAGA_FIELD.set_cached_value(
            step, tables.saga.instance(row[tables.step.width :], self.using)
        )
        return step

    def _timed_out_step(self, step_id: str) -> SagaStep | None:
        """The step, locked, if still waiting past its timeout by the database's
        clock and not locked by an engine running it right now."""
        return (
            SagaStep.objects.using(self.using)
            .filter(pk=step_id, status__in=IN_FLIGHT, timeout_at__lte=Now())
            .select_for_update(of=("self",), skip_locked=True)
            .select_related("saga")
            .first()
        )

    def tables(self) -> Statements:
        """The hand-written statements of the per-message path, built once per store."""
        if self._tables is None:
            self._tables = Statements(connections[self.using])
        return self._tables

    @contextmanager
    def open_saga(self, saga_id: str, nowait: bool = False) -> Iterator[Unit]:
        with transaction.atomic(using=self.using):
            # Lock order: step rows (in position order) before the saga row,
            # the same order the engine takes them in.
            try:
                steps = list(
                    SagaStep.objects.using(self.using)
                    .select_for_update(nowait=nowait)
                    .filter(saga_id=saga_id)
                    .order_by("position")
                )
                saga = (
                    Saga.objects.using(self.using)
                    .select_for_update(nowait=nowait)
                    .filter(pk=saga_id)
                    .first()
                )
            except OperationalError as exc:
                if not nowait:
                    raise
                raise Busy(f"saga {saga_id} is locked") from exc
            if saga is None:
                raise SagaNotFound(f"No saga with id {saga_id!r}")
            unit = DjangoUnit(self, saga, None, fast_path=False)
            unit._set_steps(steps)
            try:
                yield unit
                unit.flush()
            finally:
                unit.close()

    # -- what the sweeper looks for -----------------------------------------
    def due_timeouts(self, limit: int) -> list[tuple[str, str]]:
        """(saga id, step id) of dispatched steps past their timeout, oldest first."""
        return list(
            SagaStep.objects.using(self.using)
            .filter(status__in=IN_FLIGHT, timeout_at__lte=Now())
            .order_by("timeout_at")
            .values_list("saga_id", "id")[:limit]
        )

    def due_deadlines(self, limit: int) -> list[str]:
        """Ids of started sagas past their deadline."""
        return list(
            Saga.objects.using(self.using)
            .filter(state=SagaState.STARTED, deadline_at__lte=Now())
            .order_by("deadline_at")
            .values_list("id", flat=True)[:limit]
        )

    def stale_sagas(self, older_than: float, limit: int) -> list[Saga]:
        return list(Saga.objects.using(self.using).stale(older_than).order_by("updated_at")[:limit])

    # -- the outbox ---------------------------------------------------------
    def claim_due(self, limit: int, lease: float) -> list[Outgoing]:
        now = clock.now()
        tables = self.tables()
        # One statement: pick due rows (skipping those another relay holds)
        # and lease them. A lease, not a lock: if this relay dies they come
        # due again.
        with self.tables().cursor() as cursor:
            cursor.execute(
                tables.claim_outbox,
                [
                    tables.outbox_time(now + timedelta(seconds=lease)),
                    tables.outbox_time(now),
                    limit,
                ],
            )
            rows = cursor.fetchall()
        return [Outgoing(*row) for row in rows]

    def mark_sent(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        tables = self.tables()
        with self.tables().cursor() as cursor:
            sql, id_params = tables.mark_sent(list(ids))
            cursor.execute(sql, [tables.outbox_time(clock.now()), *id_params])

    def purge_sent(self, older_than: float) -> int:
        cutoff = clock.now() - timedelta(seconds=older_than)
        deleted, _ = OutboxMessage.objects.using(self.using).filter(sent_at__lt=cutoff).delete()
        return deleted

    def outbox_listener(self) -> OutboxListener:
        if connections[self.using].vendor == "postgresql":
            return PostgresListener(self.using)
        return OutboxListener()

    def unsent_count(self) -> int:
        return OutboxMessage.objects.using(self.using).filter(sent_at__isnull=True).count()

    def _sagas(self):  # type: ignore[no-untyped-def]
        return Saga.objects.using(self.using).prefetch_related(
            Prefetch("step_set", queryset=SagaStep.objects.order_by("position"))
        )


def _with_steps(saga: Saga) -> Saga:
    saga.set_steps(list(saga.step_set.all()))
    return saga
