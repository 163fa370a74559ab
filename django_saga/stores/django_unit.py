"""The Django store's unit of work: one saga's rows, changed in one transaction.

The store opens the transaction, locks what it must and reads the saga; the
unit collects what the caller changes and writes it all as the
transaction's last statement(s) (``flush``; see ``stores.writes``). How
much of the saga the unit holds when it opens is its ``Hold``, which the
store gives it.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import connections, transaction

from .. import clock
from ..conf import saga_settings
from ..models import (
    HeldMessage,
    Intervention,
    OutboxMessage,
    Saga,
    SagaStep,
)
from ..models.step import ITEM_POSITIONS
from .base import Unit
from .django_unit_flow import DjangoUnitFlow
from .django_unit_tasks import DjangoUnitTasks
from .wakeups import due_times, outbox_written
from .writes import Writes

if TYPE_CHECKING:
    from .django import DjangoStore

#: Sets a step's cached saga without a query.
_SAGA_FIELD = SagaStep._meta.get_field("saga")

#: Seconds a saga's ``updated_at`` stands for its progress: a step that
#: makes progress within it writes no saga row (see ``progress_recent``).
PROGRESS_EVERY = 60.0


class Hold(enum.Enum):
    """How much of its saga a unit holds when it opens, which decides what
    ``lock_saga()`` has left to do and how the unit's rows are written."""

    #: The saga is created by the unit: no other transaction sees it, and its
    #: rows are inserted at flush as they stand then (changes cost no UPDATE).
    NEW = "new"
    #: The saga's row is locked and its steps were read under that lock.
    SAGA = "saga"
    #: The step's row is locked, and that lock alone keeps every other writer
    #: off the saga: an engine's step alone in its stage of a started saga.
    STEP_ALONE = "step alone"
    #: The step's row is locked; ``lock_saga()`` waits for the saga's row.
    STEP = "step"
    #: As ``STEP``, for one of several units in one transaction, which must not
    #: wait: ``lock_saga()`` raises if another transaction holds the saga's row.
    STEP_NOWAIT = "step, nowait"


class DjangoUnit(DjangoUnitFlow, DjangoUnitTasks, Unit):
    """A unit over the saga's rows.

    Saves are collected and written by ``flush``, the unit's last statement
    before commit: on PostgreSQL every row update and insert of the unit is
    one statement (data-modifying ``WITH`` clauses), elsewhere one per row.
    """

    def __init__(
        self,
        store: DjangoStore,
        saga: Saga,
        step: SagaStep | None,
        steps: list[SagaStep],
        *,
        hold: Hold,
        fast_path: bool,
        cursor: Any = None,
    ) -> None:
        super().__init__(fast_path)
        self.store = store
        self.saga = saga
        self.step = step
        self.hold = hold
        # lock_saga() set the saga's updated_at already.
        self._touched = False
        # The transaction's cursor, when the store shares one among its units.
        self._cursor = cursor
        # Saves waiting for flush: step pk -> (step, fields), and the saga's fields.
        self._step_saves: dict[str, tuple[SagaStep, set[str]]] = {}
        self._saga_saves: set[str] | None = None
        self._set_steps(steps)

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

    def owning_store(self) -> DjangoStore:
        return self.store

    def after_commit(self, fn: Callable[[], None]) -> None:
        transaction.on_commit(fn, using=self.store.using, robust=True)

    def lock_saga(self) -> list[SagaStep]:
        """All steps, with no other unit able to change the saga until commit.

        The saga row is locked, and the steps read again under that lock,
        unless the unit holds the saga already: it created it, locked it, or
        is an engine's step alone in its stage of a started saga. Every
        other writer of that saga would first need this step's row:
        operators, deadlines and hand updates lock every step; another
        engine unit writes only for a step that awaits its message, and
        outside results and timeouts only for a waiting or timed-out step,
        none of which exists beside a step alone in its stage. So the rows
        read after locking it stay current, and the saga's row is written,
        hence locked, at flush. (A saga joining its key's queue writes the
        row's ``has_queue`` alone, under its lock: ``queue_waits`` reads it
        under that lock.)
        """
        if self.hold is Hold.STEP or self.hold is Hold.STEP_NOWAIT:
            db = self.store.using
            sql = self.store.statements()
            saga, steps = sql.saga, sql.step
            cursor = self.cursor
            # Locks the saga row and marks progress in one statement; the
            # row read back is the latest committed one.
            touch = sql.touch_saga_nowait if self.hold is Hold.STEP_NOWAIT else sql.touch_saga
            assert touch is not None
            cursor.execute(touch, [sql.now(), self.saga.pk])
            fresh = saga.instance(cursor.fetchone(), db)
            # A separate statement, after the lock is held: under READ
            # COMMITTED it sees every step committed while this unit
            # waited for the saga row (one joined statement would not).
            cursor.execute(sql.saga_steps, [self.saga.pk, self.step.pk if self.step else None])
            rows = cursor.fetchall()
            # Refresh in place: the handler and the caller hold this instance
            # (values as read: a JSON column not parsed yet stays so).
            for column in saga.fields:
                self.saga.__dict__[column.attname] = fresh.__dict__[column.attname]
            self.hold = Hold.SAGA
            self._touched = True
            # Steps this unit changed keep their unsaved changes.
            mine = {pk: step for pk, (step, _) in self._step_saves.items()}
            if self.step is not None:
                mine[self.step.pk] = self.step
            loaded = [mine.get(row.pk, row) for row in (steps.instance(r, db) for r in rows)]
            self._set_steps(loaded)
        return self._declared

    def items(
        self, map_step: SagaStep, statuses: Sequence[str], limit: int | None = None
    ) -> list[SagaStep]:
        found = self._items_of(map_step, statuses).order_by("position")
        return self._held(found[:limit] if limit is not None else found)

    def item_range(self, map_step: SagaStep, start: int, stop: int) -> list[SagaStep]:
        return self._held(self._range_of(map_step, start, stop))

    def item_statuses(self, map_step: SagaStep, start: int, stop: int) -> list[str]:
        return list(self._range_of(map_step, start, stop).values_list("status", flat=True))

    def _range_of(self, map_step: SagaStep, start: int, stop: int) -> Any:
        """Items ``start`` up to ``stop`` of the map, in order (by the saga's
        unique position index)."""
        first = map_step.first_item_position
        return (
            self._items(map_step)
            .filter(position__gte=first + start, position__lt=first + stop)
            .order_by("position")
        )

    def _held(self, rows: Any) -> list[SagaStep]:
        """The instances this unit holds for ``rows``, handed out again: one per row."""
        items = [self._known.setdefault(row.pk, row) for row in rows]
        for item in items:
            _SAGA_FIELD.set_cached_value(item, self.saga)
        return items

    def count_items(self, map_step: SagaStep, statuses: Sequence[str]) -> int:
        return self._items_of(map_step, statuses).count()

    def _items_of(self, map_step: SagaStep, statuses: Sequence[str]) -> Any:
        """The map's items in ``statuses`` (``saga_step_item_status_idx``,
        whose condition the explicit bound lets the planner match)."""
        return self._items(map_step).filter(status__in=list(statuses), position__gte=ITEM_POSITIONS)

    def _items(self, map_step: SagaStep) -> Any:
        """The map's items, seen after this unit's own changes."""
        self.lock_saga()
        self._write_step_saves()
        return SagaStep.objects.using(self.store.using).filter(map_step.items_filter)

    def _write_step_saves(self) -> None:
        """Write the step rows this unit changed now, before the end: a query
        of the map's items then sees them as the unit left them."""
        if not self._step_saves or self.hold is Hold.NEW:
            return
        writes = Writes()
        sql = self.store.statements()
        for step, fields in self._step_saves.values():
            writes.updates.append((sql.step, step, _with_updated_at(fields)))
        self._step_saves = {}
        sql.writer.write(self.cursor, writes)

    def relayed_steps(self) -> set[str]:
        self.cursor.execute(self.store.statements().unsent_bodies, [self.saga.pk])
        relayed = {json.loads(body)["step_id"] for (body,) in self.cursor.fetchall()}
        held = HeldMessage.objects.using(self.store.using).filter(saga_id=self.saga.pk)
        return relayed | set(held.values_list("step_id", flat=True))

    def _set_steps(self, steps: list[SagaStep]) -> None:
        for step in steps:
            _SAGA_FIELD.set_cached_value(step, self.saga)
        self.saga.set_steps(steps)
        self._steps = steps
        # What lock_saga() gives: a map's items are reached through items().
        self._declared = [s for s in steps if not s.is_item]
        self._known: dict[str, SagaStep] = {s.pk: s for s in steps}

    def save_step(self, step: SagaStep, fields: Sequence[str]) -> None:
        if self.hold is Hold.NEW:
            return  # inserted at flush as it stands
        _, pending = self._step_saves.setdefault(step.pk, (step, set()))
        pending.update(fields)

    def add_steps(self, steps: Sequence[SagaStep]) -> None:
        """Inserted now, so that the unit's next query of the items finds them
        (and the caller need not hold them all)."""
        assert self.hold in (Hold.SAGA, Hold.STEP_ALONE), "add steps under the saga's lock"
        self.store.statements().step.insert_many(self.cursor, steps)

    def queue_waits(self) -> bool:
        """``has_queue`` read under the saga row's lock. A saga joins the
        queue under that lock too (``enqueue``) and writes nothing else of
        the saga: a unit holding only its step would not see it join."""
        saga = self.saga
        if saga.has_queue or self.hold is Hold.NEW or self.hold is Hold.SAGA:
            return saga.has_queue
        sql = self.store.statements()
        nowait = self.hold is Hold.STEP_NOWAIT and sql.queue_of_nowait is not None
        self.cursor.execute(sql.queue_of_nowait if nowait else sql.queue_of, [saga.pk])
        (saga.has_queue,) = self.cursor.fetchone()
        return saga.has_queue

    def save_saga_fields(self, fields: Sequence[str]) -> None:
        if self.hold is Hold.NEW or (self._touched and not fields):
            return  # a new saga is inserted at flush; a locked one is already touched
        if not fields and progress_recent(self.saga):
            return  # progress only, and updated_at says as much already
        if self._saga_saves is None:
            self._saga_saves = set()
        self._saga_saves.update(fields)

    def flush(self) -> None:
        """Write the unit's rows: the last statement(s) before commit."""
        write_units(self.store, self.cursor, [self])

    def collect(self, writes: Writes) -> None:
        """Add the unit's rows to ``writes`` (and forget them)."""
        db = self.store.using
        sql = self.store.statements()
        if self.hold is Hold.NEW:
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
                        priority=m.priority,
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


def write_units(store: DjangoStore, cursor: Any, units: Sequence[DjangoUnit]) -> None:
    """Write the rows of ``units`` (one transaction's) in one go, then the
    operators' actions they record."""
    writes = Writes()
    for unit in units:
        unit.collect(writes)
    store.statements().writer.write(cursor, writes)
    for unit in units:
        if unit.interventions:
            record_interventions(store.using, unit.interventions)
            unit.interventions = []
    for unit in units:
        unit.run_flushed()


def record_interventions(using: str, entries: list[tuple[Intervention, Any]]) -> None:
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


def progress_recent(saga: Saga) -> bool:
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
