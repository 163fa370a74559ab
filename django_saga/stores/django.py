"""The default store: Django models, row locks, and the outbox table."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    OperationalError,
    connections,
    transaction,
)
from django.db.models import Prefetch
from django.db.models.functions import Now

from .. import clock
from ..conf import saga_settings
from ..errors import SagaNotFound
from ..messages import Outgoing
from ..models import (
    IN_FLIGHT,
    TERMINAL_STATES,
    Intervention,
    OutboxMessage,
    Saga,
    SagaState,
    SagaStep,
    StepStatus,
)
from ..retention import purge
from .base import Busy, HandUpdates, KeyTaken, OutboxListener, Unit, due_times, outbox_written
from .postgres import PostgresListener
from .statements import Statements
from .writes import Writes

#: Sets a step's cached saga without a query.
_SAGA_FIELD = SagaStep._meta.get_field("saga")

#: PostgreSQL's SQLSTATE for a NOWAIT lock that another transaction holds.
LOCK_NOT_AVAILABLE = "55P03"


class _StepHeld(Exception):
    """The step's row is locked by another transaction (see ``lock_and_read``)."""


#: Seconds a saga's ``updated_at`` stands for its progress: a step that
#: makes progress within it writes no saga row (see ``_progress_recent``).
PROGRESS_EVERY = 60.0


class DjangoUnit(Unit):
    """A unit over the saga's rows.

    Saves are collected and written by ``flush``, the unit's last statement
    before commit: on PostgreSQL every row update and insert of the unit is
    one statement (data-modifying ``WITH`` clauses), elsewhere one per row.
    """

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
        # The saga row is locked and the steps were read under that lock.
        self._locked = False
        # The unit's step lock already keeps every other writer off the saga.
        self._exclusive = False
        # One of several units in one transaction: it must not wait for the
        # saga's row (see ``DjangoStore.open_steps``).
        self._nowait = False
        self._cursor: Any = None
        # Saves waiting for flush: step pk -> (step, fields), and the saga's fields.
        self._step_saves: dict[str, tuple[SagaStep, set[str]]] = {}
        self._saga_saves: set[str] | None = None

    @property
    def cursor(self) -> Any:
        """One cursor for the unit's statements (closed by ``close()``)."""
        if self._cursor is None:
            self._cursor = self.store.statements().cursor()
        return self._cursor

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def after_commit(self, fn: Callable[[], None]) -> None:
        transaction.on_commit(fn, using=self.store.using, robust=True)

    def lock_saga(self) -> list[SagaStep]:
        """All steps, with no other unit able to change the saga until commit.

        The saga row is locked, and the steps read again under that lock,
        unless the unit is exclusive: an engine running a step alone in its
        stage of a started saga. Every other writer of that saga would first need
        this step's row: operators, deadlines and the protocol's hand updates
        lock every step; another engine unit writes only for a step that
        awaits its message, and outside results and timeouts only for a
        waiting or timed-out step, none of which exists beside a step alone
        in its stage. So the rows read after locking it stay current, and
        the saga's row is written, hence locked, at flush.
        """
        if self._steps is None or not (self._locked or self._exclusive):
            db = self.store.using
            sql = self.store.statements()
            saga, steps = sql.saga, sql.step
            cursor = self.cursor
            # Locks the saga row and marks progress in one statement; the
            # row read back is the latest committed one.
            touch = sql.touch_saga_nowait if self._nowait else sql.touch_saga
            assert touch is not None
            cursor.execute(touch, [sql.now(), self.saga.pk])
            fresh = saga.instance(cursor.fetchone(), db)
            # A separate statement, after the lock is held: under READ
            # COMMITTED it sees every step committed while this unit
            # waited for the saga row (one joined statement would not).
            cursor.execute(sql.saga_steps, [self.saga.pk])
            rows = cursor.fetchall()
            # Refresh in place: the handler and the caller hold this instance.
            for column in saga.fields:
                setattr(self.saga, column.attname, getattr(fresh, column.attname))
            self._touched = self._locked = True
            # Steps this unit changed keep their unsaved changes.
            mine = {pk: step for pk, (step, _) in self._step_saves.items()}
            if self.step is not None:
                mine[self.step.pk] = self.step
            loaded = [mine.get(row.pk, row) for row in (steps.instance(r, db) for r in rows)]
            self._set_steps(loaded)
        assert self._steps is not None
        return self._steps

    def relayed_steps(self) -> set[str]:
        self.cursor.execute(self.store.statements().unsent_bodies, [self.saga.pk])
        return {json.loads(body)["step_id"] for (body,) in self.cursor.fetchall()}

    def _set_steps(self, steps: list[SagaStep]) -> None:
        for step in steps:
            _SAGA_FIELD.set_cached_value(step, self.saga)
        self.saga.set_steps(steps)
        self._steps = steps

    def save_step(self, step: SagaStep, fields: Sequence[str]) -> None:
        if self._new:
            return  # inserted at flush as it stands
        _, pending = self._step_saves.setdefault(step.pk, (step, set()))
        pending.update(fields)

    def save_saga(self, fields: Sequence[str]) -> None:
        if self._new or (self._touched and not fields):
            return  # a new saga is inserted at flush; a locked one is already touched
        if not fields and _progress_recent(self.saga):
            return  # progress only, and updated_at says as much already
        if self._saga_saves is None:
            self._saga_saves = set()
        self._saga_saves.update(fields)

    def flush(self) -> None:
        """Write the unit's rows: the last statement(s) before commit."""
        _write_units(self.store, self.cursor, [self])

    def collect(self, writes: Writes) -> None:
        """Add the unit's rows to ``writes`` (and forget them)."""
        db = self.store.using
        sql = self.store.statements()
        if self._new:
            writes.insert(sql.saga, [self.saga])
            writes.insert(sql.step, list(self.saga.steps))
        for step, fields in self._step_saves.values():
            writes.updates.append((sql.step, step, _with_updated_at(fields)))
        if self._saga_saves is not None:
            writes.updates.append((sql.saga, self.saga, _with_updated_at(self._saga_saves)))
        rows = self.rows()
        if rows:
            if self.delayed:
                # Noted before the commit, so a relay that the commit wakes knows
                # how long to sleep (a rollback only costs it one early wake-up).
                due_times.add([delay for _, delay in self.delayed])
            writes.insert(
                sql.outbox,
                [
                    OutboxMessage(
                        id=m.id,
                        saga_id=m.saga_id,
                        kind=m.kind,
                        body=m.body,
                        available_at=available,
                    )
                    for m, available in rows
                ],
            )
            if self.delayed or (self.outgoing and not self.fast_path):
                # Wake the relays, here and in other processes: PostgreSQL
                # delivers the notification on commit. (For delayed rows it
                # makes this process's relay sleep only until they come due.)
                transaction.on_commit(outbox_written.set, using=db)
                writes.notify = connections[db].vendor == "postgresql"
                if self.delayed:
                    # When the first delayed row comes due, for the relay that
                    # listens in another process: it wakes then, not at its
                    # next poll (a re-drive's pace holds to the millisecond).
                    first = time.time() + min(delay for _, delay in self.delayed)
                    if not writes.due or first < float(writes.due):
                        writes.due = f"{first:.3f}"
        self._step_saves = {}
        self._saga_saves = None


def _write_units(store: DjangoStore, cursor: Any, units: Sequence[DjangoUnit]) -> None:
    """Write the rows of ``units`` (one transaction's) in one go, then the
    operators' actions they record."""
    writes = Writes()
    for unit in units:
        unit.collect(writes)
    store.statements().writer.write(cursor, writes)
    for unit in units:
        if unit.interventions:
            _record_interventions(store.using, unit.interventions)
            unit.interventions = []


def _record_interventions(using: str, entries: list[tuple[Intervention, Any]]) -> None:
    """Write operators' actions, and each one a user asked for to Django's admin
    log too (when the admin is installed): the same transaction as the change."""
    Intervention.objects.using(using).bulk_create([entry for entry, _ in entries])
    if not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.db_manager(using).get_for_model(Saga)
    LogEntry.objects.using(using).bulk_create(
        [
            LogEntry(
                user_id=user.pk,
                content_type=content_type,
                object_id=entry.saga_id,
                object_repr=f"saga {entry.saga_id}"[:200],
                action_flag=CHANGE,
                change_message=entry.summary(),
            )
            for entry, user in entries
            if user is not None
        ]
    )


def _progress_recent(saga: Saga) -> bool:
    """Whether the saga's ``updated_at`` is recent enough to stand for
    progress made now: within ``PROGRESS_EVERY``, or a fraction of
    ``STALE_AFTER`` if that is shorter. Staleness needs no finer time, and
    most steps of a short saga then write no saga row."""
    updated = saga.updated_at
    if updated is None:
        return False
    window = min(PROGRESS_EVERY, float(saga_settings.STALE_AFTER) / 4)
    return (clock.now() - updated).total_seconds() < window


def _with_updated_at(fields: set[str]) -> list[str]:
    return sorted(fields | {"updated_at"})


class DjangoStore(HandUpdates):
    """Sagas in the database; every change is one transaction with row locks."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self._statements: Statements | None = None

    # -- the public protocol -----------------------------------------------
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
        try:
            # A savepoint inside the caller's transaction: a key already
            # taken undoes only this, and the caller's own writes stand.
            with transaction.atomic(using=self.using):
                unit = DjangoUnit(self, saga, None, fast_path=False)
                unit._new = unit._locked = True  # no other transaction sees it yet
                unit._set_steps(steps)
                try:
                    yield unit
                    unit.flush()
                finally:
                    unit.close()
        except IntegrityError:
            # The unique index on (name, key) of unfinished sagas refused the
            # row: a concurrent start() committed it first (the insert waited
            # for that commit). Anything else is not this store's to explain.
            taken = self._unfinished_with_key(saga.name, saga.key) if saga.key else None
            if taken is None:
                raise
            raise KeyTaken(taken) from None

    def _unfinished_with_key(self, name: str, key: str) -> str | None:
        return (
            Saga.objects.using(self.using)
            .with_key(name, key)
            .exclude(state__in=TERMINAL_STATES)
            .values_list("pk", flat=True)
            .first()
        )

    def find_by_key(self, name: str, key: str) -> Saga | None:
        saga_id = self._unfinished_with_key(name, key) or (
            Saga.objects.using(self.using).with_key(name, key).values_list("pk", flat=True).first()
        )
        return None if saga_id is None else self.load_saga(saga_id)

    @contextmanager
    def open_step(
        self, saga_id: str, step_id: str, fast_path: bool = True, timed_out: bool = False
    ) -> Iterator[Unit | None]:
        at_once = not timed_out and self.statements().lock_and_read is not None
        while True:
            try:
                with self._step_unit(saga_id, step_id, fast_path, timed_out, at_once) as unit:
                    yield unit
                return
            except _StepHeld:
                at_once = False  # its holder may change it: lock first, then read

    def open_steps(
        self, keys: Sequence[tuple[str, str]]
    ) -> AbstractContextManager[list[Unit | None]] | None:
        """Units for the steps of several messages, (saga id, step id) each,
        of distinct sagas, in one transaction; None where the database cannot.

        Every row is locked NOWAIT: should another transaction hold one, or
        a handler fail, the whole transaction rolls back (the caller then
        takes each message alone). Waiting inside it could only hold the
        other messages' rows longer, and two engines waiting on each other's
        batches would deadlock. The units' writes are one statement at the
        end. The caller runs the units one after the other.
        """
        if self.statements().lock_and_read_many is None:
            return None
        return self._units(keys)

    @contextmanager
    def _units(self, keys: Sequence[tuple[str, str]]) -> Iterator[list[Unit | None]]:
        sql = self.statements()
        with transaction.atomic(using=self.using):
            cursor = sql.cursor()
            try:
                cursor.execute(sql.lock_and_read_many, [[step_id for _, step_id in keys]])
                id_at, saga_at = sql.step_id_at, sql.step_saga_at
                rows_of: dict[str, list[Any]] = {}
                for row in cursor.fetchall():
                    rows_of.setdefault(row[saga_at], []).append(row)
                units: list[Unit | None] = []
                opened: list[DjangoUnit] = []
                for saga_id, step_id in keys:
                    rows = rows_of.get(saga_id)
                    if rows is None or not any(row[id_at] == step_id for row in rows):
                        units.append(None)  # no such step, or not in that saga
                        continue
                    saga, steps = self._saga_from(rows, saga_id)
                    unit = self._engine_unit(saga, steps, step_id, cursor, fast_path=True)
                    unit._nowait = True
                    units.append(unit)
                    opened.append(unit)
                yield units
                _write_units(self, cursor, opened)
            finally:
                cursor.close()

    def _engine_unit(
        self, saga: Saga, steps: list[SagaStep], step_id: str, cursor: Any, fast_path: bool
    ) -> DjangoUnit:
        found = next(s for s in steps if s.pk == step_id)
        unit = DjangoUnit(self, saga, found, fast_path)
        unit._cursor = cursor
        unit._set_steps(steps)
        running = found.status == StepStatus.STARTED
        if fast_path and running and saga.state == SagaState.STARTED:
            unit._exclusive = sum(s.stage == found.stage for s in steps) == 1
        return unit

    @contextmanager
    def _step_unit(
        self, saga_id: str, step_id: str, fast_path: bool, timed_out: bool, at_once: bool
    ) -> Iterator[Unit | None]:
        with transaction.atomic(using=self.using):
            # One cursor for the whole unit: the lock, the read and the writes.
            cursor = self.statements().cursor()
            try:
                if at_once:
                    read = self._lock_and_read(cursor, step_id)
                    locked = read[0].pk if read is not None else None
                else:
                    read = None
                    locked = (
                        self._timed_out_step(step_id)
                        if timed_out
                        else self._lock_step(cursor, step_id)
                    )
                if locked != saga_id:
                    yield None
                    return
                # Read after the step lock is held: current, whoever held it before.
                saga, steps = read if read is not None else self._read_saga(cursor, saga_id)
                unit = self._engine_unit(saga, steps, step_id, cursor, fast_path)
                yield unit
                unit.flush()
            finally:
                cursor.close()

    def _lock_step(self, cursor: Any, step_id: str) -> str | None:
        """Lock the step's row; its saga's id (None: no such step)."""
        cursor.execute(self.statements().lock_step, [step_id])
        row = cursor.fetchone()
        return None if row is None else row[0]

    def _lock_and_read(self, cursor: Any, step_id: str) -> tuple[Saga, list[SagaStep]] | None:
        """Lock the step's row if no one holds it and read its saga, in one
        statement (None: no such step); raises ``_StepHeld`` if it is held."""
        sql = self.statements()
        assert sql.lock_and_read is not None
        try:
            cursor.execute(sql.lock_and_read, [step_id])
        except Exception as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            if getattr(cause, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise _StepHeld from exc
            raise
        rows = cursor.fetchall()
        return self._saga_from(rows) if rows else None

    def _read_saga(self, cursor: Any, saga_id: str) -> tuple[Saga, list[SagaStep]]:
        """The saga and all its steps, in one statement."""
        sql = self.statements()
        cursor.execute(sql.saga_with_steps, [saga_id])
        return self._saga_from(cursor.fetchall(), saga_id)

    def _saga_from(
        self, rows: list[Any], saga_id: str | None = None
    ) -> tuple[Saga, list[SagaStep]]:
        """The saga and its steps from rows of ``saga_with_steps``."""
        sql = self.statements()
        width = sql.step.width
        steps = [sql.step.instance(row[:width], self.using) for row in rows]
        if rows and rows[0][width] is not None:
            saga = sql.saga.instance(rows[0][width:], self.using)
        else:  # positions not starting at 0 (rows saved by hand)
            saga = Saga.objects.using(self.using).get(pk=saga_id or steps[0].saga_id)
        return saga, steps

    def _timed_out_step(self, step_id: str) -> str | None:
        """Lock the step if still waiting past its timeout by the database's clock
        and not locked by an engine running it right now; its saga's id."""
        return (
            SagaStep.objects.using(self.using)
            .filter(pk=step_id, status__in=IN_FLIGHT, timeout_at__lte=_due_by())
            .select_for_update(skip_locked=True)
            .values_list("saga_id", flat=True)
            .first()
        )

    def statements(self) -> Statements:
        """The hand-written statements of the per-message path, built once per store."""
        if self._statements is None:
            self._statements = Statements(connections[self.using])
        return self._statements

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
            unit._locked = True
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
            .filter(status__in=IN_FLIGHT, timeout_at__lte=_due_by())
            .order_by("timeout_at")
            .values_list("saga_id", "id")[:limit]
        )

    def due_deadlines(self, limit: int) -> list[str]:
        """Ids of started sagas past their deadline."""
        return list(
            Saga.objects.using(self.using)
            .filter(state=SagaState.STARTED, deadline_at__lte=_due_by())
            .order_by("deadline_at")
            .values_list("id", flat=True)[:limit]
        )

    def stale_sagas(self, older_than: float, limit: int) -> list[Saga]:
        return list(Saga.objects.using(self.using).stale(older_than).order_by("updated_at")[:limit])

    # -- the outbox ---------------------------------------------------------
    def claim_due(self, limit: int, lease: float) -> list[Outgoing]:
        now = clock.now()
        sql = self.statements()
        # One statement: pick due rows (skipping those another relay holds)
        # and lease them. A lease, not a lock: if this relay dies they come
        # due again.
        with self.statements().cursor() as cursor:
            cursor.execute(
                sql.claim_outbox,
                [
                    sql.outbox_time(clock.later(lease, now)),
                    sql.outbox_time(now),
                    limit,
                ],
            )
            rows = cursor.fetchall()
        return [Outgoing(*row) for row in rows]

    def relay_later(self, messages: Sequence[Outgoing]) -> None:
        sql = self.statements()
        now = clock.now()
        rows = [
            OutboxMessage(id=m.id, saga_id=m.saga_id, kind=m.kind, body=m.body, available_at=now)
            for m in messages
        ]
        notify = connections[self.using].vendor == "postgresql"
        with transaction.atomic(using=self.using), sql.cursor() as cursor:
            sql.writer.write(cursor, Writes(inserts=[(sql.outbox, rows)], notify=notify))
            transaction.on_commit(outbox_written.set, using=self.using)

    def mark_sent(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self.statements().cursor() as cursor:
            cursor.execute(*self.statements().mark_sent(list(ids), clock.now()))

    def purge_finished(self, older_than: float, budget: float) -> int:
        return purge(older_than, using=self.using, budget=budget).sagas

    def purge_sent(self, older_than: float) -> int:
        cutoff = clock.now() - timedelta(seconds=older_than)
        deleted, _ = OutboxMessage.objects.using(self.using).filter(sent_at__lt=cutoff).delete()
        return deleted

    def interventions(self, saga_id: str) -> list[Intervention]:
        return list(Intervention.objects.using(self.using).filter(saga_id=saga_id).order_by("id"))

    def outbox_listener(self) -> OutboxListener:
        if connections[self.using].vendor == "postgresql":
            # A pooler in transaction mode would hand the LISTEN and the
            # listener lock to whichever server connection ran them, and pass
            # the notifications to no one: LISTEN_DATABASE goes around it.
            return PostgresListener(saga_settings.LISTEN_DATABASE or self.using)
        return OutboxListener()

    def unsent_count(self) -> int:
        return OutboxMessage.objects.using(self.using).filter(sent_at__isnull=True).count()

    def _sagas(self):  # type: ignore[no-untyped-def]
        return Saga.objects.using(self.using).prefetch_related(
            Prefetch("step_set", queryset=SagaStep.objects.order_by("position"))
        )


def _due_by() -> Any:
    """What due timeouts and deadlines are compared with: the database's clock,
    which every engine shares whatever its own host's says, so two sweepers on
    hosts that disagree by seconds never disagree on what is due. A test
    clock's time when one is set (``django_saga.testing``): a test cannot
    move the database's clock, and inside a test's transaction PostgreSQL's
    ``now()`` would not move at all."""
    return clock.now() if clock.replaced() else Now()


def _with_steps(saga: Saga) -> Saga:
    saga.set_steps(list(saga.step_set.all()))
    return saga
