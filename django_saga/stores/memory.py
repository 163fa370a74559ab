"""A thread-safe store in process memory, for tests and demos.

Each unit of work runs on copies taken under the saga's lock and writes them
back only if it ends without an error, so a failing unit changes nothing.
Handlers' own database writes are NOT part of such a unit: only the Django
store gives "local effects exactly once".
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta

from .. import clock
from ..errors import SagaNotFound
from ..limits import Gate
from ..messages import StepMessage
from ..models import (
    ACTIVE_STATES,
    IN_FLIGHT,
    KEY_FREE_STATES,
    TERMINAL_STATES,
    Intervention,
    Saga,
    SagaState,
    SagaStep,
)
from .base import Busy, Held, KeyTaken, Unit
from .hand import HandUpdates
from .memory_held import HeldRow, MemoryQueues, MemoryUnitFlow
from .memory_outbox import MemoryOutbox, OutboxRow
from .memory_queue import MemoryKeyQueue
from .memory_tasks import MemoryUnitTasks
from .rates import LocalTurns
from .wakeups import due_times, outbox_written


class MemoryUnit(MemoryUnitFlow, MemoryUnitTasks, Unit):
    def __init__(
        self, saga: Saga, step: SagaStep | None, fast_path: bool, store: MemoryStore
    ) -> None:
        super().__init__(fast_path)
        self.committed_callbacks: list[Callable[[], None]] = []
        self.saga = saga
        self.step = step
        self.store = store
        # Messages held for a slot or by the saga's pause, kept when the unit commits.
        self.held: list[HeldRow] = []
        # Held messages sent again by the unit: no longer held once it commits.
        self.unheld: list[StepMessage] = []
        # No pauses of actions or names in the memory store (Django store only).
        self.pauses = False

    def owning_store(self) -> MemoryStore:
        return self.store

    def relayed_steps(self) -> set[str]:
        return self.store.relayed_steps(self.saga.pk) | self.store.queues.steps_of(self.saga.pk)

    def after_commit(self, fn: Callable[[], None]) -> None:
        self.committed_callbacks.append(fn)

    def lock_saga(self) -> list[SagaStep]:
        # The whole saga is already held by this unit.
        return [s for s in self.saga.steps if not s.is_item]

    def items(
        self, map_step: SagaStep, statuses: Sequence[str], limit: int | None = None
    ) -> list[SagaStep]:
        found = [
            s
            for s in self.saga.steps
            if s.is_item and s.map_position == map_step.position and s.status in statuses
        ]
        return found[:limit] if limit is not None else found

    def item_range(self, map_step: SagaStep, start: int, stop: int) -> list[SagaStep]:
        return [
            s
            for s in self.saga.steps
            if s.is_item and s.map_position == map_step.position and start <= s.item_index < stop
        ]

    def item_statuses(self, map_step: SagaStep, start: int, stop: int) -> list[str]:
        return [s.status for s in self.item_range(map_step, start, stop)]

    def count_items(self, map_step: SagaStep, statuses: Sequence[str]) -> int:
        return len(self.items(map_step, statuses))

    def save_step(self, step: SagaStep, fields: Sequence[str]) -> None:
        step.updated_at = clock.now()

    def save_saga_fields(self, fields: Sequence[str]) -> None:
        self.saga.updated_at = clock.now()

    def add_steps(self, steps: Sequence[SagaStep]) -> None:
        now = clock.now()
        for step in steps:
            step.created_at = step.updated_at = now
        self.saga.set_steps([*self.saga.steps, *steps])


class MemoryStore(MemoryOutbox, MemoryKeyQueue, HandUpdates):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saga_locks: dict[str, threading.RLock] = {}
        self._sagas: dict[str, Saga] = {}
        self._outbox: dict[str, OutboxRow] = {}
        self._interventions: dict[str, list[Intervention]] = {}
        self._creating = threading.Lock()
        self.queues = MemoryQueues()
        self.turns = LocalTurns()

    # -- helpers ------------------------------------------------------------
    def _saga_lock(self, saga_id: str) -> threading.RLock:
        with self._lock:
            return self._saga_locks.setdefault(saga_id, threading.RLock())

    def _copy(self, saga_id: str) -> Saga:
        with self._lock:
            saga = self._sagas.get(saga_id)
        if saga is None:
            raise SagaNotFound(f"No saga with id {saga_id!r}")
        return _clone(saga)

    def _commit(self, unit: MemoryUnit) -> None:
        # Store a copy: what the caller holds (e.g. the saga start() returned)
        # must not change the stored saga behind the store's back.
        stored = _clone(unit.saga)
        with self._lock:
            self._sagas[unit.saga.pk] = stored
            for intervention, _ in unit.interventions:
                self._interventions.setdefault(unit.saga.pk, []).append(intervention)
            for message, available in unit.rows():
                self._outbox[message.id] = OutboxRow(message, available)
        self.queues.add(unit.held)
        self.queues.drop(unit.unheld)
        unit.run_flushed()
        if unit.outgoing and not unit.fast_path:
            outbox_written.set()
        if unit.delayed:
            due_times.add([delay for _, delay in unit.delayed])
        for callback in unit.committed_callbacks:
            callback()

    @contextmanager
    def _unit(
        self, saga_id: str, step_id: str | None, fast_path: bool, wait: bool = True
    ) -> Iterator[MemoryUnit]:
        lock = self._saga_lock(saga_id)
        if not lock.acquire(blocking=wait):
            raise Busy(f"saga {saga_id} is locked")
        try:
            saga = self._copy(saga_id)
            step = None
            if step_id is not None:
                step = next((s for s in saga.steps if s.pk == step_id), None)
                if step is None:
                    raise SagaNotFound(f"No step {step_id!r} in saga {saga_id!r}")
            unit = MemoryUnit(saga, step, fast_path, self)
            yield unit
            self._commit(unit)
        finally:
            lock.release()

    # -- the public protocol -----------------------------------------------
    def save_saga(self, saga: Saga) -> None:
        steps = saga.steps
        for position, step in enumerate(steps):
            step.saga = saga
            step.position = position
        now = clock.now()
        saga.created_at = saga.created_at or now
        saga.updated_at = now
        stored = _clone(saga)
        with self._lock:
            self._sagas[saga.pk] = stored

    def load_saga(self, saga_id: str) -> Saga:
        with self._saga_lock(saga_id):
            return self._copy(saga_id)

    def delete_saga(self, saga_id: str) -> None:
        with self._lock:
            if self._sagas.pop(saga_id, None) is None:
                raise SagaNotFound(f"No saga with id {saga_id!r}")
            # The operators' trail outlives its saga, as in the Django store.
            for key in [k for k, row in self._outbox.items() if row.message.saga_id == saga_id]:
                del self._outbox[key]

    def list_active_sagas(self) -> list[Saga]:
        with self._lock:
            ids = [s.pk for s in self._sagas.values() if s.state in ACTIVE_STATES]
        return sorted((self.load_saga(i) for i in ids), key=lambda s: s.created_at)

    # -- units of work -----------------------------------------------------
    @contextmanager
    def create(self, saga: Saga, steps: list[SagaStep]) -> Iterator[Unit]:
        now = clock.now()
        saga.created_at = saga.updated_at = now
        for step in steps:
            step.created_at = step.updated_at = now
        saga.set_steps(steps)
        with self._saga_lock(saga.pk):
            unit = MemoryUnit(saga, None, fast_path=False, store=self)
            yield unit
            # Creates check and store under one lock: one unfinished saga per key.
            with self._creating:
                holds = saga.key and saga.state != SagaState.QUEUED
                taken = self._unfinished_with_key(saga.name, saga.key) if holds else None
                if taken is not None:
                    raise KeyTaken(taken)
                self._commit(unit)

    def _unfinished_with_key(self, name: str, key: str) -> str | None:
        with self._lock:
            found = [
                s.pk
                for s in self._sagas.values()
                if s.name == name and s.key == key and s.state not in KEY_FREE_STATES
            ]
        return max(found, default=None)

    def children_of(self, saga_id: str) -> list[Saga]:
        with self._lock:
            found = [_clone(s) for s in self._sagas.values() if s.parent_id == saga_id]
        return sorted(found, key=lambda s: s.pk)

    def find_by_key(self, name: str, key: str) -> Saga | None:
        saga_id = self._unfinished_with_key(name, key)
        if saga_id is None:
            with self._lock:
                found = [s.pk for s in self._sagas.values() if s.name == name and s.key == key]
            saga_id = max(found, default=None)
        return None if saga_id is None else self.load_saga(saga_id)

    def step_id(self, saga_id: str, name_or_id: str) -> str | None:
        with self._lock:
            saga = self._sagas.get(saga_id)
            steps = list(saga.steps) if saga is not None else []
        found = next((s for s in steps if s.name == name_or_id), None) or next(
            (s for s in steps if s.pk == name_or_id), None
        )
        return None if found is None else str(found.pk)

    @contextmanager
    def open_step(
        self, saga_id: str, step_id: str, fast_path: bool = True, timed_out: bool = False
    ) -> Iterator[Unit | None]:
        lock = self._saga_lock(saga_id)
        if not lock.acquire(blocking=not timed_out):
            yield None  # an engine holds it: the step is running right now
            return
        try:
            with self._lock:
                known = self._sagas.get(saga_id)
            saga = _clone(known) if known is not None else None
            step = next((s for s in saga.steps if s.pk == step_id), None) if saga else None
            if saga is None or step is None or (timed_out and not _timed_out(step)):
                yield None
                return
            unit = MemoryUnit(saga, step, fast_path, self)
            try:
                yield unit
                self._commit(unit)
            finally:
                self.queues.slots.give_back(unit.slots)
        finally:
            lock.release()

    def create_many(
        self, sagas: Sequence[tuple[Saga, list[SagaStep]]]
    ) -> AbstractContextManager[list[Unit]] | None:
        """None: each saga is created under its own lock."""
        return None

    def open_steps(
        self, keys: Sequence[tuple[str, str]]
    ) -> AbstractContextManager[list[Unit | None]] | None:
        """None: with no transactions to share, each message is a unit of its own."""
        return None

    def open_saga(self, saga_id: str, nowait: bool = False) -> AbstractContextManager[Unit]:
        return self._unit(saga_id, None, fast_path=False, wait=not nowait)

    def open_held(self, gate: Gate) -> AbstractContextManager[Held | None]:
        return self.queues.open(gate)

    def held_queues(self, limit: int) -> list[tuple[str, str, str]]:
        return self.queues.queues(limit)

    def take_turn(self, name: str, interval: float) -> float:
        return self.turns.take(name, interval)

    def unpause_held(self, limit: int) -> int:
        """None: pauses of actions and names live in the database only."""
        return 0

    def record_runs(self, runs: Mapping[tuple[str, str], int]) -> None:
        """Nothing kept: the console that reads them reads the database."""

    # -- what the sweeper looks for -----------------------------------------
    def due_timeouts(self, limit: int) -> list[tuple[str, str]]:
        with self._lock:
            due = [
                (step.timeout_at, saga.pk, step.pk)
                for saga in self._sagas.values()
                for step in saga.steps
                if _timed_out(step)
            ]
        return [(saga_id, step_id) for _, saga_id, step_id in sorted(due)[:limit]]

    def due_deadlines(self, limit: int) -> list[str]:
        now = clock.now()
        with self._lock:
            due = sorted(
                (saga.deadline_at, saga.pk)
                for saga in self._sagas.values()
                if saga.state == SagaState.STARTED
                and saga.deadline_at is not None
                and saga.deadline_at <= now
            )
        return [saga_id for _, saga_id in due[:limit]]

    def due_tasks(self, limit: int) -> list[tuple[str, str, str]]:
        """None: the memory store keeps no tasks."""
        return []

    def stale_sagas(self, older_than: float, limit: int) -> list[Saga]:
        cutoff = clock.now() - timedelta(seconds=older_than)
        with self._lock:
            stale = [
                s.pk
                for s in self._sagas.values()
                if s.state in ACTIVE_STATES
                and s.updated_at < cutoff
                and not s.paused
                # A saga that sleeps waits for its time, one with a message
                # held for its turn: neither is stuck.
                and not any(
                    step.sleeping_until is not None and step.sleeping_until > clock.now()
                    for step in s.steps
                )
            ]
        stale = [pk for pk in stale if not self.queues.steps_of(pk)]
        return sorted((self.load_saga(i) for i in stale), key=lambda s: s.updated_at)[:limit]

    def purge_finished(self, older_than: float, budget: float) -> int:
        cutoff = clock.now() - timedelta(seconds=older_than)
        with self._lock:
            old = [
                saga_id
                for saga_id, saga in self._sagas.items()
                if saga.state in TERMINAL_STATES
                and saga.completed_at is not None
                and saga.completed_at < cutoff
            ]
            for saga_id in old:
                del self._sagas[saga_id]
                self._saga_locks.pop(saga_id, None)
        return len(old)

    def interventions(self, saga_id: str) -> list[Intervention]:
        with self._lock:
            return list(self._interventions.get(saga_id, ()))


def _clone(saga: Saga) -> Saga:
    """A copy of ``saga`` and its steps that shares no mutable state with it."""
    clone = copy.copy(saga)
    clone.context = copy.deepcopy(saga.context)
    steps = []
    for step in saga.steps:
        s = copy.copy(step)
        s.input = copy.deepcopy(step.input)
        s.output = copy.deepcopy(step.output)
        s.saga = clone
        steps.append(s)
    clone.set_steps(steps)
    return clone


def _timed_out(step: SagaStep) -> bool:
    return (
        step.status in IN_FLIGHT and step.timeout_at is not None and step.timeout_at <= clock.now()
    )
