"""The default store: Django models, row locks, and the outbox table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NamedTuple

from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    OperationalError,
    connections,
    transaction,
)
from django.db.models import Prefetch

from ..errors import SagaNotFound
from ..models import (
    IN_FLIGHT,
    KEY_FREE_STATES,
    Intervention,
    Saga,
    SagaState,
    SagaStep,
    StepStatus,
)
from .base import Busy, KeyTaken, Unit
from .django_held import DjangoHeld
from .django_outbox import DjangoOutbox
from .django_queue import DjangoKeyQueue
from .django_sweeps import DjangoSweeps, due_by
from .django_unit import DjangoUnit, Hold, write_units
from .hand import HandUpdates
from .rates import LocalTurns, PostgresTurns
from .slots import LocalSlots
from .statements import Statements

#: PostgreSQL's SQLSTATE for a NOWAIT lock that another transaction holds.
LOCK_NOT_AVAILABLE = "55P03"


class Read(NamedTuple):
    """A saga as a step's unit reads it, and whether any pause is in force."""

    saga: Saga
    steps: list[SagaStep]
    pauses: bool


class _StepHeld(Exception):
    """The step's row is locked by another transaction, or was changed by one that
    committed between the read and the lock (see ``lock_and_read``)."""


def _current(rows: list[Any]) -> list[Any]:
    """The rows of ``lock_and_read`` without their last column, which says
    whether the locked step's row was read as locked; raises ``_StepHeld``
    if it was not (its holder committed between the read and the lock)."""
    if not all(row[-1] for row in rows):
        raise _StepHeld
    return [row[:-1] for row in rows]


class DjangoStore(DjangoOutbox, DjangoHeld, DjangoSweeps, DjangoKeyQueue, HandUpdates):
    """Sagas in the database; every change is one transaction with row locks."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self._statements: Statements | None = None
        # Slots where the database has no advisory locks (one engine).
        self._local_slots = LocalSlots()
        postgres = connections[using].vendor == "postgresql"
        self._turns = PostgresTurns(using) if postgres else LocalTurns()

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
                unit = DjangoUnit(self, saga, None, steps, hold=Hold.NEW, fast_path=False)
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

    @contextmanager
    def _create_many(self, sagas: Sequence[tuple[Saga, list[SagaStep]]]) -> Iterator[list[Unit]]:
        sql = self.statements()
        with transaction.atomic(using=self.using):
            cursor = sql.cursor()
            try:
                units = [
                    DjangoUnit(
                        self, saga, None, steps, hold=Hold.NEW, fast_path=False, cursor=cursor
                    )
                    for saga, steps in sagas
                ]
                yield list(units)
                write_units(self, cursor, units)
            finally:
                cursor.close()

    def create_many(
        self, sagas: Sequence[tuple[Saga, list[SagaStep]]]
    ) -> AbstractContextManager[list[Unit]] | None:
        """Units inserting several new sagas in one savepoint of the caller's
        transaction, their rows written by one multi-row insert a table: a key
        already taken raises ``IntegrityError`` and undoes them all, and only
        them (the caller then starts each alone to learn which)."""
        return self._create_many(sagas)

    def _unfinished_with_key(self, name: str, key: str) -> str | None:
        return (
            Saga.objects.using(self.using)
            .with_key(name, key)
            .exclude(state__in=KEY_FREE_STATES)
            .values_list("pk", flat=True)
            .first()
        )

    def children_of(self, saga_id: str) -> list[Saga]:
        return list(self._sagas().filter(parent_id=saga_id).order_by("pk"))

    def find_by_key(self, name: str, key: str) -> Saga | None:
        saga_id = self._unfinished_with_key(name, key) or (
            Saga.objects.using(self.using).with_key(name, key).values_list("pk", flat=True).first()
        )
        return None if saga_id is None else self.load_saga(saga_id)

    def step_id(self, saga_id: str, name_or_id: str) -> str | None:
        steps = SagaStep.objects.using(self.using).filter(saga_id=saga_id)
        return (
            steps.filter(name=name_or_id).values_list("pk", flat=True).first()
            or steps.filter(pk=name_or_id).values_list("pk", flat=True).first()
        )

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
        slots: set[int] = set()
        with self._giving_back(slots), transaction.atomic(using=self.using):
            cursor = sql.cursor()
            try:
                cursor.execute(sql.lock_and_read_many, [[step_id for _, step_id in keys]])
                id_at, saga_at = sql.step_id_at, sql.step_saga_at
                rows_of: dict[str, list[Any]] = {}
                for row in _current(cursor.fetchall()):
                    rows_of.setdefault(row[saga_at], []).append(row)
                units: list[Unit | None] = []
                opened: list[DjangoUnit] = []
                for saga_id, step_id in keys:
                    rows = rows_of.get(saga_id)
                    if rows is None or not any(row[id_at] == step_id for row in rows):
                        units.append(None)  # no such step, or not in that saga
                        continue
                    read = self._saga_from(rows, saga_id)
                    unit = self._engine_unit(read, step_id, cursor, True, Hold.STEP_NOWAIT)
                    unit.slots = slots  # the transaction's, whichever unit takes them
                    units.append(unit)
                    opened.append(unit)
                yield units
                write_units(self, cursor, opened)
            finally:
                cursor.close()

    def _engine_unit(
        self, read: Read, step_id: str, cursor: Any, fast_path: bool, hold: Hold = Hold.STEP
    ) -> DjangoUnit:
        """A unit over the step ``step_id``, whose row the transaction holds
        (``hold``: how a unit that needs the saga's row locks it), or the
        saga too when the step is an engine's alone in its stage."""
        saga, steps = read.saga, read.steps
        found = next(s for s in steps if s.pk == step_id)
        running = found.status == StepStatus.STARTED
        started = saga.state == SagaState.STARTED
        if fast_path and running and started and sum(s.stage == found.stage for s in steps) == 1:
            hold = Hold.STEP_ALONE
        unit = DjangoUnit(self, saga, found, steps, hold=hold, fast_path=fast_path, cursor=cursor)
        unit.pauses = read.pauses
        return unit

    @contextmanager
    def _step_unit(
        self, saga_id: str, step_id: str, fast_path: bool, timed_out: bool, at_once: bool
    ) -> Iterator[Unit | None]:
        slots: set[int] = set()
        with self._giving_back(slots), transaction.atomic(using=self.using):
            # One cursor for the whole unit: the lock, the read and the writes.
            cursor = self.statements().cursor()
            try:
                if at_once:
                    read = self._lock_and_read(cursor, step_id)
                    locked = read.saga.pk if read is not None else None
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
                if read is None:
                    read = self._read_saga(cursor, saga_id, step_id)
                unit = self._engine_unit(read, step_id, cursor, fast_path)
                unit.slots = slots
                yield unit
                unit.flush()
            finally:
                cursor.close()

    def _lock_step(self, cursor: Any, step_id: str) -> str | None:
        """Lock the step's row; its saga's id (None: no such step)."""
        cursor.execute(self.statements().lock_step, [step_id])
        row = cursor.fetchone()
        return None if row is None else row[0]

    def _lock_and_read(self, cursor: Any, step_id: str) -> Read | None:
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
        rows = _current(cursor.fetchall())
        return self._saga_from(rows) if rows else None

    def _read_saga(self, cursor: Any, saga_id: str, step_id: str) -> Read:
        """The saga, its declared steps and the step ``step_id``, in one statement."""
        sql = self.statements()
        cursor.execute(sql.saga_with_steps, [saga_id, step_id])
        return self._saga_from(cursor.fetchall(), saga_id)

    def _saga_from(self, rows: list[Any], saga_id: str | None = None) -> Read:
        """The saga and its steps from rows of ``saga_with_steps``, each row's
        last column saying whether anything is paused."""
        sql = self.statements()
        width = sql.step.width
        steps = [sql.step.instance(row[:width], self.using) for row in rows]
        if rows and rows[0][width] is not None:
            saga = sql.saga.instance(rows[0][width:-1], self.using)
        else:  # positions not starting at 0 (rows saved by hand)
            saga = Saga.objects.using(self.using).get(pk=saga_id or steps[0].saga_id)
        return Read(saga, steps, bool(rows[0][-1]) if rows else True)

    def _timed_out_step(self, step_id: str) -> str | None:
        """Lock the step if still waiting past its timeout by the database's clock
        and not locked by an engine running it right now; its saga's id."""
        return (
            SagaStep.objects.using(self.using)
            .filter(pk=step_id, status__in=IN_FLIGHT, timeout_at__lte=due_by())
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
            unit = DjangoUnit(self, saga, None, steps, hold=Hold.SAGA, fast_path=False)
            try:
                yield unit
                unit.flush()
            finally:
                unit.close()

    def interventions(self, saga_id: str) -> list[Intervention]:
        return list(Intervention.objects.using(self.using).filter(saga_id=saga_id).order_by("id"))

    def _sagas(self):  # type: ignore[no-untyped-def]
        return Saga.objects.using(self.using).prefetch_related(
            Prefetch("step_set", queryset=SagaStep.objects.order_by("position"))
        )


def _with_steps(saga: Saga) -> Saga:
    saga.set_steps(list(saga.step_set.all()))
    return saga
