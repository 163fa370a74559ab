"""Instrumentation inside engine processes, switched on by ``SAGA_BENCH_STATS_DIR``.

* ``note_commit(step_id)``, called by the benchmark handler, logs when the
  step's transaction has committed: the "previous step committed" end of the
  hand-off latency.
* Every database connection gets an execute wrapper that counts statements
  (BEGIN and COMMIT are not statements Django executes, so they are not
  counted); the total goes to ``sql-<pid>.txt`` when the process exits.
* With ``SAGA_BENCH_TRACE=1`` the engine's hand-off path is timed too, by
  wrapping four methods: when the I/O thread takes a finished step back
  (``finish``), when the next step's message is written to the broker
  (``published``; its confirm comes later), when a delivery reaches the I/O
  thread (``delivered``) and when a worker thread starts processing it
  (``picked``).

Events go to ``events-<pid>.log``, one ``kind step_id time.time()`` a line.
Without the variable (the benchmark's own process, Celery workers) nothing is
installed and ``note_commit`` does nothing.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from functools import partial, wraps
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.db.backends.signals import connection_created

COMMIT = "commit"
FINISH = "finish"
PUBLISHED = "published"
DELIVERED = "delivered"
PICKED = "picked"

_events: IO[str] | None = None
_counters: list[StatementCounter] = []
_lock = threading.Lock()


class StatementCounter:
    """An execute wrapper that counts the statements of one connection."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def install() -> None:
    global _events
    directory = os.environ.get("SAGA_BENCH_STATS_DIR")
    if not directory or _events is not None:
        return
    pid = os.getpid()
    _events = (Path(directory) / f"events-{pid}.log").open("a")
    connection_created.connect(_count_statements, dispatch_uid="saga_bench_count")
    atexit.register(_dump, Path(directory) / f"sql-{pid}.txt")
    if os.environ.get("SAGA_BENCH_TRACE") == "1":
        _trace_engine()


def note_commit(step_id: str) -> None:
    """Log when the current transaction (the step's) commits."""
    if _events is not None:
        transaction.on_commit(partial(_event, COMMIT, step_id))


def _event(kind: str, step_id: str) -> None:
    line = f"{kind} {step_id} {time.time():.6f}\n"
    with _lock:  # threads share the file
        if _events is not None:
            _events.write(line)


def _step_id(body: bytes | str) -> str:
    try:
        return str(json.loads(body)["step_id"])
    except (ValueError, KeyError, TypeError):
        return "?"


def _trace_engine() -> None:
    """Wrap the engine's hand-off path (see the module docstring)."""
    from django_saga.engine import Engine
    from django_saga.processor import Processor
    from django_saga.transports.amqp import AmqpConnection

    def before(kind: str, step_of: Any, method: Any) -> Any:
        @wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _event(kind, step_of(*args))
            return method(*args, **kwargs)

        return wrapper

    publish_then = AmqpConnection.publish_then

    @wraps(publish_then)
    def published(self: Any, messages: Any, done: Any) -> None:
        publish_then(self, messages, done)
        for message in messages:
            _event(PUBLISHED, _step_id(message.body))

    AmqpConnection.publish_then = published  # type: ignore[method-assign]
    Engine._on_delivery = before(  # type: ignore[method-assign]
        DELIVERED, lambda engine, delivery, *_: _step_id(delivery.body), Engine._on_delivery
    )
    Engine._finish = before(  # type: ignore[method-assign]
        FINISH, lambda engine, gen, delivery, *_: _step_id(delivery.body), Engine._finish
    )
    process_many = Processor.process_many

    @wraps(process_many)
    def picked(self: Any, deliveries: Any) -> Any:
        for body, _ in deliveries:
            _event(PICKED, _step_id(body))
        return process_many(self, deliveries)

    Processor.process_many = picked  # type: ignore[method-assign]


def _count_statements(sender: Any, connection: Any, **kwargs: Any) -> None:
    if any(isinstance(w, StatementCounter) for w in connection.execute_wrappers):
        return  # a reconnect of the same thread's connection
    counter = StatementCounter()
    with _lock:
        _counters.append(counter)
    connection.execute_wrappers.append(counter)


def _dump(path: Path) -> None:
    global _events
    path.write_text(f"{sum(c.count for c in _counters)}\n")
    with _lock:
        if _events is not None:
            _events.close()
            _events = None
