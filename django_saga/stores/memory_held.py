"""The memory store's queues of limited actions: held messages and slots,
in the process (one engine, as with SQLite). A saga's own pause holds its
messages here too; pauses of actions and names need the Django store."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from ..limits import Gate
from ..messages import StepMessage
from .slots import LocalSlots
from .unit_flow import Held

if TYPE_CHECKING:
    from ..models import Pause, Saga
    from .base import Unit
    from .memory import MemoryStore


@dataclass(frozen=True)
class HeldRow:
    message: StepMessage
    #: (kind, action, key): the queue of a limited action it waits in.
    queue: tuple[str, str, str]
    #: Held by its saga's pause, not for a slot.
    paused: bool = False


class MemoryQueues:
    """Held messages by arrival, and the slots of every queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # Arrival number -> row; dicts keep arrival order.
        self._held: dict[int, HeldRow] = {}
        # Rows a release is running right now: others skip them.
        self._claimed: set[int] = set()
        self.slots = LocalSlots()

    def take(self, gate: Gate, mine: set[int], queued_first: bool) -> bool:
        if queued_first and self._first(gate, skip_claimed=False) is not None:
            return False
        return self.slots.take(gate.slot_ids(), mine)

    def add(self, held: Sequence[HeldRow]) -> None:
        """Hold messages a unit committed (one row per message, however often held)."""
        with self._lock:
            known = {row.message for row in self._held.values()}
            for row in held:
                if row.message not in known:
                    self._held[next(self._ids)] = row
                    known.add(row.message)

    def steps_of(self, saga_id: str) -> set[str]:
        with self._lock:
            return {r.message.step_id for r in self._held.values() if r.message.saga_id == saga_id}

    def queues(self, limit: int) -> list[tuple[str, str, str]]:
        with self._lock:
            queues = (row.queue for row in self._held.values() if not row.paused)
            return list(dict.fromkeys(queues))[:limit]

    def paused_of(self, saga_id: str) -> list[StepMessage]:
        """The messages the saga's pause holds, in arrival order."""
        with self._lock:
            rows = self._held.values()
            return [r.message for r in rows if r.paused and r.message.saga_id == saga_id]

    def drop(self, messages: Sequence[StepMessage]) -> None:
        """No longer hold ``messages`` (a unit that sent them again committed)."""
        gone = set(messages)
        with self._lock:
            for number in [n for n, r in self._held.items() if r.message in gone]:
                del self._held[number]

    @contextmanager
    def open(self, gate: Gate) -> Iterator[Held | None]:
        with self._lock:
            first = self._first(gate, skip_claimed=True)
            if first is not None:
                self._claimed.add(first)
        if first is None:
            yield None
            return
        slots: set[int] = set()
        try:
            if not self.slots.take(gate.slot_ids(), slots):
                yield None
                return
            # Gone before it runs (back if the run fails): a pause that holds
            # it again keeps a row of its own.
            with self._lock:
                row = self._held.pop(first)
            try:
                yield Held(first, row.message)
            except BaseException:
                with self._lock:
                    self._held[first] = row
                    self._held = dict(sorted(self._held.items()))
                raise
        finally:
            self.slots.give_back(slots)
            with self._lock:
                self._claimed.discard(first)

    def _first(self, gate: Gate, skip_claimed: bool) -> int | None:
        queue = (gate.kind, gate.action, gate.key)
        return next(
            (
                number
                for number, row in list(self._held.items())
                if row.queue == queue
                and not row.paused
                and not (skip_claimed and number in self._claimed)
            ),
            None,
        )


class MemoryUnitFlow:
    """The flow-control half of ``MemoryUnit``: what it holds or sends again
    is kept by the store when the unit commits."""

    store: MemoryStore
    saga: Saga
    slots: set[int]
    held: list[HeldRow]
    unheld: list[StepMessage]

    def take_slot(self, gate: Gate) -> bool:
        return self.store.queues.take(gate, self.slots, queued_first=True)

    def hold_message(
        self,
        message: StepMessage,
        action: str,
        key: str = "",
        paused: bool = False,
        pause_id: int | None = None,
    ) -> None:
        self.held.append(HeldRow(message, (message.kind, action, key), paused))

    def active_pauses(self) -> list[Pause]:
        return []

    def queue_waits(self) -> bool:
        return self.saga.has_queue  # one unit at a time: nobody joins meanwhile

    def next_queued(self) -> str | None:
        saga = self.saga
        queued = self.store.queued_for(saga.name, saga.key) if saga.key else []
        return next((pk for pk in queued if pk != saga.pk), None)

    def release_paused(self) -> int:
        messages = self.store.queues.paused_of(self.saga.pk)
        for m in messages:
            cast("Unit", self).send_to(m.saga_id, m.step_id, m.kind, m.attempt)
        self.unheld.extend(messages)
        return len(messages)
