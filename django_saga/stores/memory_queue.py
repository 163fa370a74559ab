"""The memory store's queues of business keys (``if_active="queue"``)."""

from __future__ import annotations

import threading
from typing import Any

from ..models import KEY_FREE_STATES, TERMINAL_STATES, Saga, SagaState, SagaStep


class MemoryKeyQueue:
    """The key-queue half of ``MemoryStore``: its sagas, under its lock."""

    _lock: threading.Lock
    _sagas: dict[str, Saga]

    def create(self, saga: Saga, steps: list[SagaStep]) -> Any:
        raise NotImplementedError

    def _saga_lock(self, saga_id: str) -> threading.RLock:
        raise NotImplementedError

    def enqueue(self, saga: Saga, steps: list[SagaStep], holder_id: str) -> bool:
        with self._saga_lock(holder_id):
            with self._lock:
                holder = self._sagas.get(holder_id)
            if holder is None or holder.state in TERMINAL_STATES:
                return False
            holder.has_queue = True
            saga.state = SagaState.QUEUED
            with self.create(saga, steps):
                pass
        return True

    def queued_for(self, name: str, key: str) -> list[str]:
        """The sagas queued for ``name`` and ``key``, oldest first."""
        with self._lock:
            return sorted(
                s.pk
                for s in self._sagas.values()
                if s.name == name and s.key == key and s.state == SagaState.QUEUED
            )

    def stranded_queued(self, limit: int) -> list[str]:
        with self._lock:
            sagas = list(self._sagas.values())
        held = {(s.name, s.key) for s in sagas if s.key and s.state not in KEY_FREE_STATES}
        first: dict[tuple[str, str], str] = {}
        for saga in sorted(sagas, key=lambda s: s.pk):
            if saga.state == SagaState.QUEUED and (saga.name, saga.key) not in held:
                first.setdefault((saga.name, saga.key), saga.pk)
        return list(first.values())[:limit]
