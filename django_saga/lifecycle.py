"""The engine's role of the manager: run an engine in this thread, stop it.

The engine is imported when ``run()`` is called, not before: a web process
that imports the manager to start sagas loads no relay, no sweeper and no
broker client.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import Engine
    from .stores import Store


class EngineLifecycle:
    """Runs one engine at a time over ``store``, and stops it when asked."""

    @property
    def store(self) -> Store:
        raise NotImplementedError  # the client's store, in ``Manager``

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def run(self, **options: Any) -> None:
        """Run the orchestration engine in this thread until ``stop()``."""
        from .engine import Engine

        with self._lock:
            engine = self._engine = Engine(self.store, **options)
        try:
            engine.run()
        finally:
            with self._lock:
                if self._engine is engine:
                    self._engine = None

    def stop(self) -> None:
        """Ask a running engine to finish its in-flight steps and return."""
        with self._lock:
            if self._engine is not None:
                self._engine.stop()

    def close(self, timeout: float | None = None) -> None:
        """Stop the engine and wait until it has released its broker connection."""
        with self._lock:
            engine = self._engine
        if engine is not None:
            engine.stop()
            engine.finished.wait(engine.shutdown_grace + 5 if timeout is None else timeout)
