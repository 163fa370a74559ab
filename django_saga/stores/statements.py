"""The Django store's hand-written statements, each written out in full.

Every message an engine handles runs a few of these: lock its step, read
the saga, maybe lock the saga's row; a relay claims and marks outbox rows.
Each statement is one function below, given the tables it reads
(``ModelTable``: quoted names, so that they hold on every backend), and
``Statements`` builds the ones a database can run, once per store. A
transaction's inserts and updates are the rows' own (``ModelTable``), run
by ``stores.writes``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from ..conf import saga_settings
from ..models import HeldMessage, OutboxMessage, Pause, Saga, SagaStep
from ..models.step import ITEM_POSITIONS
from .postgres import preparing_cursor, psycopg_available
from .slots import TAKE_SLOT_FOR_HELD, take_slot
from .tables import ModelTable
from .writes import Writer

logger = logging.getLogger(__name__)

Steps = ModelTable[SagaStep]
Sagas = ModelTable[Saga]
Outbox = ModelTable[OutboxMessage]
Pauses = ModelTable[Pause]


# -- a step and its saga -------------------------------------------------------
def lock_step(step: Steps) -> str:
    """Locks a step's row and names its saga (None: no such step)."""
    return (
        f"SELECT {step.column('saga')} FROM {step.name} WHERE {step.column('id')} = %s FOR UPDATE"
    )


def step_saga(step: Steps) -> str:
    """``lock_step`` where the database has no row locks (SQLite, whose
    writer holds the whole database): names the step's saga."""
    return f"SELECT {step.column('saga')} FROM {step.name} WHERE {step.column('id')} = %s"


def saga_with_steps(step: Steps, saga: Sagas, pause: Pauses) -> str:
    """A saga's declared steps in order, and the step named by its id (a
    map's item), the saga's row joined to the first one only (every saga has
    a step at position 0): one statement, no row repeated. Each row's last
    column says whether any pause is in force (``paused``)."""
    return (
        f"SELECT {step.columns}, {saga.columns}, {paused(pause)} FROM {step.name} "
        f"LEFT JOIN {saga.name} ON {saga.column('id')} = {step.column('saga')} "
        f"AND {step.column('position')} = 0 "
        f"WHERE {step.column('saga')} = %s AND ({_declared(step)} OR {step.column('id')} = %s) "
        f"ORDER BY {step.column('position')}"
    )


def _declared(step: Steps) -> str:
    """Not a map's item: the items are read by their map (``Unit.items``), not
    with every step of their saga, however many there are."""
    return f"{step.column('position')} < {ITEM_POSITIONS}"


def paused(pause: Pauses) -> str:
    """Whether any pause of actions or saga names is in force: one look at an
    index of the pauses not ended, once per statement, so that a unit asks
    which one only when there is one."""
    return f"EXISTS (SELECT 1 FROM {pause.name} WHERE {pause.column('resumed_at')} IS NULL)"


def lock_and_read(step: Steps, saga: Sagas, pause: Pauses) -> str:
    """``lock_step`` and ``saga_with_steps`` at once, for a step row no one
    holds: NOWAIT, so that PostgreSQL raises at once if someone does, and the
    unit starts again with the two statements, as a read made before waiting
    for a lock would be stale.

    A holder that commits after the statement's snapshot but before its lock
    leaves no lock to wait for: the lock takes the row's newest version while
    the read still sees the snapshot's. Each row's last column says whether
    it is current: false for the locked step when its version read is not
    the one locked (the unit then starts again with the two statements too).
    """
    return _locked_and_read(step, saga, pause, f"{step.column('id')} = %s")


def lock_and_read_many(step: Steps, saga: Sagas, pause: Pauses) -> str:
    """``lock_and_read`` for several messages' steps, of distinct sagas, for
    one transaction (PostgreSQL: an array of step ids); the rows ordered by
    saga, then position, each with the same last column."""
    return _locked_and_read(step, saga, pause, f"{step.column('id')} = ANY(%s)")


def _locked_and_read(step: Steps, saga: Sagas, pause: Pauses, which: str) -> str:
    return (
        f"WITH locked AS (SELECT {step.column('saga')} AS saga, {step.column('id')} AS id, "
        f"{step.name}.xmin AS version FROM {step.name} WHERE {which} FOR UPDATE NOWAIT) "
        f"SELECT {step.columns}, {saga.columns}, {paused(pause)}, "
        f"({step.column('id')} <> locked.id OR {step.name}.xmin = locked.version) "
        f"FROM locked JOIN {step.name} ON {step.column('saga')} = locked.saga "
        f"AND ({_declared(step)} OR {step.column('id')} = locked.id) "
        f"LEFT JOIN {saga.name} ON {saga.column('id')} = {step.column('saga')} "
        f"AND {step.column('position')} = 0 "
        f"ORDER BY {step.column('saga')}, {step.column('position')}"
    )


def saga_steps(step: Steps) -> str:
    """A saga's declared steps in order, and the step named by its id (read
    again once the saga's row is locked)."""
    return (
        f"SELECT {step.columns} FROM {step.name} WHERE {step.column('saga')} = %s "
        f"AND ({_declared(step)} OR {step.column('id')} = %s) "
        f"ORDER BY {step.column('position')}"
    )


def touch_saga(saga: Sagas) -> str:
    """Locks the saga's row and marks its progress (``updated_at``); reads
    back the row, the latest committed one."""
    return (
        f"UPDATE {saga.name} SET {saga.bare_column('updated_at')} = %s "
        f"WHERE {saga.pk_column} = %s RETURNING {saga.bare_columns}"
    )


def touch_saga_nowait(saga: Sagas) -> str:
    """``touch_saga`` for a unit of a batch, which must not wait for the row:
    PostgreSQL raises at once if another transaction holds it."""
    return (
        f"UPDATE {saga.name} SET {saga.bare_column('updated_at')} = %s "
        f"WHERE {saga.pk_column} = (SELECT {saga.column('id')} FROM {saga.name} "
        f"WHERE {saga.column('id')} = %s FOR UPDATE NOWAIT) RETURNING {saga.bare_columns}"
    )


def queue_of(saga: Sagas, lock: str) -> str:
    """Whether sagas wait in the queue of a saga's key, its row locked
    (``lock``: the locking clause, empty where rows cannot be locked)."""
    return (
        f"SELECT {saga.column('has_queue')} FROM {saga.name} WHERE {saga.column('id')} = %s {lock}"
    ).rstrip()


# -- the outbox ----------------------------------------------------------------
def unsent_bodies(outbox: Outbox) -> str:
    """The bodies of a saga's outbox rows not yet sent."""
    return (
        f"SELECT {outbox.column('body')} FROM {outbox.name} "
        f"WHERE {outbox.column('saga')} = %s AND {outbox.column('sent_at')} IS NULL"
    )


#: Joined to a PostgreSQL statement run alone: the commit of its transaction
#: (only its own) returns before its WAL is flushed.
NO_FLUSH_WAIT = " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"


def claim_outbox(outbox: Outbox, no_flush_wait: bool = False) -> str:
    """Picks the rows due, oldest first, skipping those another relay holds,
    and leases them (their ``available_at`` moved on): one statement. A
    lease, not a lock: if the relay dies, they come due again.

    ``no_flush_wait`` (PostgreSQL): the statement's commit does not wait for
    its WAL to reach the disk, so the rows are published that much sooner.
    A lease lost to a database crash only lets the rows be published again,
    which delivery tolerates as it tolerates any copy."""
    unflushed = NO_FLUSH_WAIT if no_flush_wait else ""
    return (
        f"UPDATE {outbox.name} SET {outbox.bare_column('available_at')} = %s{unflushed} "
        f"WHERE {outbox.pk_column} IN (SELECT {outbox.column('id')} FROM {outbox.name} "
        f"WHERE {outbox.column('sent_at')} IS NULL AND {outbox.column('available_at')} <= %s "
        f"ORDER BY {outbox.column('available_at')} LIMIT %s FOR UPDATE SKIP LOCKED) "
        f"RETURNING {outbox.bare_column('id')}, {outbox.bare_column('kind')}, "
        f"{outbox.bare_column('saga')}, {outbox.bare_column('body')}, "
        f"{outbox.bare_column('priority')}"
    )


def claim_outbox_unlocked(outbox: Outbox) -> str:
    """``claim_outbox`` where the database cannot skip locked rows."""
    return (
        f"UPDATE {outbox.name} SET {outbox.bare_column('available_at')} = %s "
        f"WHERE {outbox.pk_column} IN (SELECT {outbox.column('id')} FROM {outbox.name} "
        f"WHERE {outbox.column('sent_at')} IS NULL AND {outbox.column('available_at')} <= %s "
        f"ORDER BY {outbox.column('available_at')} LIMIT %s) "
        f"RETURNING {outbox.bare_column('id')}, {outbox.bare_column('kind')}, "
        f"{outbox.bare_column('saga')}, {outbox.bare_column('body')}, "
        f"{outbox.bare_column('priority')}"
    )


def mark_sent_any(outbox: Outbox) -> str:
    """Marks rows sent, their ids one array parameter (PostgreSQL): one
    statement whatever the batch size."""
    return (
        f"UPDATE {outbox.name} SET {outbox.bare_column('sent_at')} = %s "
        f"WHERE {outbox.pk_column} = ANY(%s)"
    )


def mark_sent_in(outbox: Outbox, count: int) -> str:
    """Marks ``count`` rows sent, one parameter per id."""
    return (
        f"UPDATE {outbox.name} SET {outbox.bare_column('sent_at')} = %s "
        f"WHERE {outbox.pk_column} IN ({', '.join(['%s'] * count)})"
    )


class Statements:
    """The statements one database runs, built once per store; the cursor
    they run on; the tables they read; the writer of a transaction's rows."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.alias = connection.alias
        features = connection.features
        postgres = connection.vendor == "postgresql"
        self.prepared = postgres and saga_settings.PREPARED_STATEMENTS and psycopg_available()
        self.saga = saga = ModelTable(Saga, connection)
        self.step = step = ModelTable(SagaStep, connection)
        self.outbox = outbox = ModelTable(OutboxMessage, connection)
        self.pause = pause = ModelTable(Pause, connection)
        names = [f.attname for f in step.fields]
        #: Where a step row of ``saga_with_steps`` holds its id and its saga's.
        self.step_id_at, self.step_saga_at = names.index("id"), names.index("saga_id")

        self.lock_step = lock_step(step) if features.has_select_for_update else step_saga(step)
        self.saga_with_steps = saga_with_steps(step, saga, pause)
        self.saga_steps = saga_steps(step)
        self.touch_saga = touch_saga(saga)
        nowait = features.has_select_for_update_nowait
        #: None where the database cannot lock NOWAIT: lock, then read.
        self.lock_and_read = lock_and_read(step, saga, pause) if nowait else None
        # Batches of messages (``DjangoStore.open_steps``): PostgreSQL only.
        batches = nowait and postgres
        self.lock_and_read_many = lock_and_read_many(step, saga, pause) if batches else None
        self.touch_saga_nowait = touch_saga_nowait(saga) if batches else None
        self.queue_of = queue_of(saga, "FOR UPDATE" if features.has_select_for_update else "")
        self.queue_of_nowait = queue_of(saga, "FOR UPDATE NOWAIT") if batches else None

        self.unsent_bodies = unsent_bodies(outbox)
        self.claim_outbox = (
            claim_outbox(outbox, no_flush_wait=postgres)
            if features.has_select_for_update_skip_locked
            else claim_outbox_unlocked(outbox)
        )
        self._mark_sent_any = mark_sent_any(outbox) if postgres else None
        # Slots of limited actions: advisory locks on PostgreSQL (None: counted
        # in the process, ``stores.slots.LocalSlots``).
        self.held = held = ModelTable(HeldMessage, connection)
        self.take_slot = take_slot(held) if postgres else None
        self.take_slot_for_held = TAKE_SLOT_FOR_HELD if postgres else None
        self._updated_at = Saga._meta.get_field("updated_at")
        self._outbox_time = OutboxMessage._meta.get_field("available_at")
        #: Runs a transaction's writes.
        self.writer = Writer(connection)

    def cursor(self) -> Any:
        """A cursor of this thread's connection for the statements above.

        On PostgreSQL (psycopg 3) it binds parameters on the server and
        prepares each statement, so PostgreSQL parses and plans it once per
        connection; errors, query logging and execute wrappers are Django's.
        """
        connection = connections[self.alias]
        if not self.prepared:
            return connection.cursor()
        return preparing_cursor(connection, self)

    def stop_preparing(self, error: Exception) -> None:
        """Go on without prepared statements: PostgreSQL lost one this process
        prepared, or already had one of its name, as behind a pooler that
        hands each transaction to any server connection."""
        if self.prepared:
            self.prepared = False
            logger.error(
                "PostgreSQL (database %r) lost django-saga's prepared statements (%s): "
                "a connection pooler that cannot keep them, such as PgBouncer in "
                "transaction mode before 1.21 or without max_prepared_statements? "
                "This process goes on without them; set SAGA['PREPARED_STATEMENTS'] "
                "= False for that database to say so.",
                self.alias,
                error,
            )

    def now(self) -> Any:
        """The time as the saga's ``updated_at`` column takes it."""
        return self._updated_at.get_db_prep_save(timezone.now(), self.connection)

    def outbox_time(self, moment: datetime) -> Any:
        """``moment`` as the outbox's time columns take it."""
        return self._outbox_time.get_db_prep_save(moment, self.connection)

    def mark_sent(self, ids: list[str], moment: datetime) -> tuple[str, list[Any]]:
        """The statement marking the rows ``ids`` sent at ``moment``, and its parameters."""
        at = self.outbox_time(moment)
        if self._mark_sent_any is not None:
            return self._mark_sent_any, [at, ids]
        return mark_sent_in(self.outbox, len(ids)), [at, *ids]
