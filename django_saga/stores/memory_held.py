"""The memory store's queues of limited actions: held messages and slots,
in the process (one engine, as with SQLite)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..limits import Gate
from ..messages import StepMessage
from .base import Held
from .slots import LocalSlots


class MemoryQueues:
    """Held messages by arrival, and the slots of every queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # Arrival number -> (message, its queue); dicts keep arrival order.
        self._held: dict[int, tuple[StepMessage, tuple[str, str, str]]] = {}
        # Rows a release is running right now: others skip them.
        self._claimed: set[int] = set()
        self.slots = LocalSlots()

    def take(self, gate: Gate, mine: set[int], queued_first: bool) -> bool:
        if queued_first and self._first(gate, skip_claimed=False) is not None:
            return False
        return self.slots.take(gate.slot_ids(), mine)

    def add(self, held: Sequence[tuple[StepMessage, Gate]]) -> None:
        """Hold messages a unit committed (one row per message, however often held)."""
        with self._lock:
            known = {message for message, _ in self._held.values()}
            for message, gate in held:
                if message not in known:
                    self._held[next(self._ids)] = (message, _queue(gate))
                    known.add(message)

    def steps_of(self, saga_id: str) -> set[str]:
        with self._lock:
            return {m.step_id for m, _ in self._held.values() if m.saga_id == saga_id}

    def queues(self, limit: int) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(dict.fromkeys(queue for _, queue in self._held.values()))[:limit]

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
            yield Held(first, self._held[first][0])
            with self._lock:
                self._held.pop(first, None)
        finally:
            self.slots.give_back(slots)
            with self._lock:
                self._claimed.discard(first)

    def _first(self, gate: Gate, skip_claimed: bool) -> int | None:
        queue = _queue(gate)
        return next(
            (
                number
                for number, (_, where) in list(self._held.items())
                if where == queue and not (skip_claimed and number in self._claimed)
            ),
            None,
        )


def _queue(gate: Gate) -> tuple[str, str, str]:
    return (gate.kind, gate.action, gate.key)
