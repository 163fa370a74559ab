"""Test sagas to their end in a test's database, with no engine, no broker and no waiting.

``SagaTestKit`` stands in for the engine, its relay and its sweeper, all in
the test's own thread: inside a ``TestCase`` the saga lives in the test's
uncommitted transaction, which an engine's threads (other connections)
would never see. It delivers each message from the outbox table the way
the relay would, through the engine's own ``Processor`` (every unit a
savepoint of the test's transaction), and a test clock decides what is
due: retries, timeouts, deadlines and re-drives come due when the test
says ``advance(minutes=15)``, not fifteen minutes later. While it is
installed it keeps what django-saga logs (``kit.logs``) instead of letting a
step failing on purpose print warnings through the test run's output.

The test clock and the exact retry delays hold in the thread that installed
the kit (its context) and nowhere else: an engine's threads, a live server's
or another test's keep the real time. The kit refuses a database that is not
a test database (``allow_any_database`` overrides it): it claims and marks
sent what is in the outbox, which on a live database belongs to the engines.

    kit = SagaTestKit()
    with kit:
        saga = kit.start(OrderSaga(order_id=7))
        kit.advance(minutes=15)
        kit.assert_saga(saga, state="compensated", ran=["accept"], compensated=["accept"])

See the how-to "Testing your sagas" for ``TestCase`` and pytest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import Min
from django.utils import timezone

from . import clock, processor
from .api import Manager, SagaRef
from .definition import Declared, SagaDefinition
from .models import IN_FLIGHT, OutboxMessage, Saga, SagaState, SagaStep
from .processor import ACK, DEAD_LETTER, Processor
from .registry import HandlerRegistry, registry
from .stores import get_store
from .stores.django import DjangoStore
from .sweeper import Sweeper

logger = logging.getLogger("django_saga.testing")

__all__ = ["Event", "SagaTestError", "SagaTestKit", "TestClock"]

#: Outbox rows claimed at once; the kit marks them sent as it claims them.
BATCH = 100
#: Messages one ``run()`` may deliver before it gives up: a step retried with
#: no delay for ever would otherwise hang the test.
MAX_MESSAGES = 10_000
#: The logger above every logger of django-saga.
LOGGER = "django_saga"
#: How ``log_text()`` writes a record (as pytest writes the logs it captured).
LOG_FORMAT = "%(levelname)-8s %(name)s:%(filename)s:%(lineno)d %(message)s"
#: What a test database's name starts with (Django's TEST_DATABASE_PREFIX).
TEST_PREFIX = "test_"

#: Whether retry delays are exact (no jitter) here: set where a kit is installed.
_exact_delays: ContextVar[bool] = ContextVar("django_saga.testing.exact_delays", default=False)


class SagaTestError(AssertionError):
    """What the kit cannot go on with: a message dead-lettered, or no rest in sight."""


class Event(NamedTuple):
    """One entry of a saga's timeline: equal to the plain tuple
    ``(kind, step, outcome)``, e.g. ``("execute", "charge", "retrying")``."""

    kind: str
    step: str
    outcome: str


class TestClock:
    """The time django-saga reads while a kit is installed; it moves only when told."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, start: datetime | None = None) -> None:
        self.time = start or timezone.now()

    def now(self) -> datetime:
        return self.time

    def advance(self, delta: timedelta) -> datetime:
        self.time += delta
        return self.time


class SagaTestKit:
    """Run sagas in the calling thread against the test's database, on a test clock.

    ``install()`` (or ``with kit:``) sets the test clock and fixes retry
    jitter at none, so delays are exactly as the policies say; ``uninstall()``
    puts both back. Both hold in the installing thread's context only: other
    threads keep the real clock and jitter. Install and uninstall in the same
    thread. The store is the configured one, which must be the Django store:
    the kit reads the outbox and the due times from its tables.

    ``install()`` refuses a database that is not a test database: one whose
    name starts with ``test_``, the ``TEST`` ``NAME`` of its settings (or a
    parallel runner's copy of it), or SQLite in memory, as Django's test
    runner and pytest-django create them. ``allow_any_database=True`` lets
    the kit claim and mark sent the outbox rows of any other database.

    With ``capture_logs`` (the default), the records of django-saga's loggers
    are kept in ``logs`` while the kit is installed, and go to no handler of
    the project's, the root's or Python's last resort (stderr); ``uninstall()``
    gives the loggers back their handlers. When an exception leaves a ``with
    kit:`` block (a failing assertion), the records of that block are then
    handed to those handlers, as they would have been without the kit.
    ``capture_logs=False`` leaves logging alone.
    """

    __test__ = False

    def __init__(
        self,
        start: datetime | None = None,
        *,
        store: DjangoStore | None = None,
        handlers: HandlerRegistry = registry,
        capture_logs: bool = True,
        allow_any_database: bool = False,
    ) -> None:
        chosen = store or get_store()
        if not isinstance(chosen, DjangoStore):
            raise ImproperlyConfigured(
                "SagaTestKit needs the Django store (SAGA['STORE'] is "
                f"{type(chosen).__name__}): it reads the outbox from the test's database"
            )
        self.store = chosen
        self.clock = TestClock(start)
        self.manager = Manager(chosen)
        self.processor = Processor(chosen, handlers)
        self.sweeper = Sweeper(chosen, self.processor)
        #: Messages delivered since the kit was made.
        self.delivered = 0
        self._timelines: dict[str, list[Event]] = {}
        # Per saga: how many history entries of each step the timeline holds.
        self._seen: dict[str, dict[str, int]] = {}
        self.allow_any_database = allow_any_database
        # What install() replaced in this context: the clock's source, exact delays.
        self._saved: tuple[clock.Source | None, bool] | None = None
        #: The records django-saga logged while the kit was installed, oldest
        #: first (with ``capture_logs``; at the levels its loggers let through).
        self.logs: list[logging.LogRecord] = []
        self.capture_logs = capture_logs
        # Each logger the kit changed, with its handlers and propagate as they were.
        self._loggers: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
        # Where the records of the current installation begin in ``logs``.
        self._first_log = 0

    # -- installing ----------------------------------------------------------
    def install(self) -> SagaTestKit:
        if self._saved is None:
            if not self.allow_any_database:
                _require_test_database(self.store.using)
            _jitter.attach()
            self._saved = (clock.set_source(self.clock.now), _exact_delays.get())
            _exact_delays.set(True)
            if self.capture_logs:
                self._capture_logs()
        return self

    def uninstall(self) -> None:
        if self._saved is not None:
            source, exact = self._saved
            clock.set_source(source)
            _exact_delays.set(exact)
            self._saved = None
            _jitter.detach()
            self._release_logs()

    def __enter__(self) -> SagaTestKit:
        return self.install()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        first = self._first_log
        self.uninstall()
        if exc is not None:
            for record in self.logs[first:]:
                logging.getLogger(record.name).handle(record)

    # -- driving -----------------------------------------------------------
    def start(
        self,
        saga: str | SagaDefinition,
        steps: Sequence[Declared] = (),
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Saga:
        """Start a saga (a name and its steps, or a ``SagaDefinition``) and run it
        as far as it goes now; the saga as it then stands."""
        self._require_installed()
        with self.committed():
            if isinstance(saga, SagaDefinition):
                started = self.manager.start_definition(saga, **options)
            else:
                started = self.manager.start(saga, steps, context, **options)
        self._observe(started.pk)
        self.run()
        return self.saga(started.pk)

    def run(self) -> int:
        """Deliver every message due by the test clock, and time out and
        compensate what is due, until nothing more is; how many messages ran."""
        self._require_installed()
        delivered = 0
        while True:
            claimed = self.store.claim_due(BATCH, lease=0)
            if claimed:
                self.store.mark_sent([m.id for m in claimed])
                delivered += self._deliver(claimed, delivered)
                continue
            with self.committed():
                report = self.sweeper.sweep_due()
            if not (report.timed_out or report.deadlines):
                return delivered
            for saga_id in list(self._seen):
                self._observe(saga_id)

    def advance(self, delta: timedelta | None = None, **units: float) -> int:
        """Move the test clock forward (a ``timedelta``, or ``timedelta``'s
        keywords) and run what comes due on the way, each thing at its own
        time: a retry's retry is scheduled from when the retry ran. How many
        messages ran."""
        self._require_installed()
        step = (delta or timedelta()) + timedelta(**units)
        if step < timedelta():
            raise ValueError(f"the test clock only moves forward, not by {step}")
        target = self.clock.now() + step
        delivered = self.run()
        while (due := self.next_due()) is not None and self.clock.now() < due <= target:
            self.clock.time = due
            delivered += self.run()
        self.clock.time = target
        return delivered + self.run()

    def next_due(self) -> datetime | None:
        """When the next message, timeout or deadline comes due (None: nothing waits)."""
        using = self.store.using
        times = [
            OutboxMessage.objects.using(using)
            .filter(sent_at__isnull=True)
            .aggregate(at=Min("available_at"))["at"],
            SagaStep.objects.using(using)
            .filter(status__in=IN_FLIGHT)
            .aggregate(at=Min("timeout_at"))["at"],
            Saga.objects.using(using)
            .filter(state=SagaState.STARTED)
            .aggregate(at=Min("deadline_at"))["at"],
        ]
        return min((t for t in times if t is not None), default=None)

    def complete_step(
        self, saga: SagaRef | Saga, step: str, output: Mapping[str, Any] | None = None
    ) -> Saga:
        """Complete a waiting step as its outside service would, and run on."""
        self._require_installed()
        saga_id = self._id(saga)
        with self.committed():
            self.manager.complete_step(saga_id, step, output)
        return self._after_outside(saga_id)

    def fail_step(self, saga: SagaRef | Saga, step: str, error: str = "") -> Saga:
        """Fail a waiting step as its outside service would, and run on."""
        self._require_installed()
        saga_id = self._id(saga)
        with self.committed():
            self.manager.fail_step(saga_id, step, error)
        return self._after_outside(saga_id)

    @contextlib.contextmanager
    def committed(self) -> Iterator[None]:
        """Run the on-commit callbacks (django-saga's signals) of what the block
        does when it ends, as a commit would.

        Inside a ``TestCase`` (or pytest-django's ``db``) nothing commits: the
        callbacks would wait for the end of the test and be dropped. They are
        taken off the connection's list as they run, so a real commit later
        does not run them twice. Outside a transaction Django runs them at
        once and this does nothing.
        """
        connection = connections[self.store.using]
        first = len(connection.run_on_commit)
        try:
            yield
        finally:
            while connection.in_atomic_block and len(connection.run_on_commit) > first:
                # (savepoint ids, callback, robust): Django's stubs know two of them.
                entry: Any = connection.run_on_commit.pop(first)
                callback, robust = entry[1], entry[2]
                try:
                    callback()
                except Exception:
                    if not robust:
                        raise
                    logger.exception("Error calling %s on commit", callback)

    # -- reading -------------------------------------------------------------
    def saga(self, saga: SagaRef | Saga) -> Saga:
        """The saga as it stands now, with its steps."""
        return self.manager.get(self._id(saga))

    def timeline(self, saga: SagaRef | Saga) -> list[Event]:
        """What happened to the saga's steps, in the order it happened:
        every attempt, outside result, compensation and operator's retry."""
        saga_id = self._id(saga)
        self._observe(saga_id)
        return list(self._timelines.get(saga_id, []))

    def assert_saga(
        self,
        saga: SagaRef | Saga,
        state: str | None = None,
        *,
        ran: Sequence[str] | None = None,
        compensated: Sequence[str] | None = None,
        skipped: Sequence[str] | None = None,
    ) -> Saga:
        """Check the saga's state, and which steps ran to completion, had their
        compensation run and were skipped, each in the order it happened.
        Fails with the saga's timeline; returns the saga."""
        current = self.saga(saga)
        events = self.timeline(current)
        actual = {
            "state": current.state,
            "ran": _steps(events, ("execute", "outside"), "completed"),
            "compensated": _steps(events, ("compensate",), "compensated"),
            "skipped": _steps(events, ("execute",), "skipped"),
        }
        expected = {"state": state, "ran": ran, "compensated": compensated, "skipped": skipped}
        wrong = [
            f"{what}: expected {value!r}, got {actual[what]!r}"
            for what, value in expected.items()
            if value is not None and _normal(value) != actual[what]
        ]
        if wrong:
            lines = [f"  {e.kind} {e.step}: {e.outcome}" for e in events] or ["  (nothing)"]
            # The kit keeps the logs out of the test's output: show what concerns the saga.
            logged = [f"  {m}" for m in self.log_messages() if current.pk in m]
            raise AssertionError(
                f"Saga {current.pk} ({current.name}) is not as expected:\n  "
                + "\n  ".join(wrong)
                + (f"\nIts error: {current.error}" if current.error else "")
                + "\nIts timeline:\n"
                + "\n".join(lines)
                + ("\nIts warnings in the log:\n" + "\n".join(logged) if logged else "")
            )
        return current

    def log_messages(self, level: int | str = logging.WARNING) -> list[str]:
        """The messages of the records in ``logs`` at ``level`` or above, in order,
        e.g. to check that a step's failure was logged::

            assert any("outcome=failed" in m for m in kit.log_messages())
        """
        least = _level(level)
        return [r.getMessage() for r in self.logs if r.levelno >= least]

    def log_text(self, level: int | str = logging.NOTSET) -> str:
        """The records in ``logs`` at ``level`` or above, one formatted line each
        (and the traceback of those that carry one)."""
        least = _level(level)
        formatter = logging.Formatter(LOG_FORMAT)
        return "\n".join(formatter.format(r) for r in self.logs if r.levelno >= least)

    # -- inside --------------------------------------------------------------
    def _capture_logs(self) -> None:
        """Send every record of django-saga's loggers to ``logs`` and nowhere else.

        The records of ``django_saga.*`` go up to ``django_saga``, which gets the
        kit's handler alone and stops there. A logger below it that a project
        gave handlers of its own, or stopped from propagating, would keep its
        records from the kit: it loses its handlers and propagates for as long.
        """
        self._first_log = len(self.logs)
        top = logging.getLogger(LOGGER)
        changed = [top] + [
            logger
            for name, logger in list(logging.root.manager.loggerDict.items())
            if name.startswith(LOGGER + ".")
            and isinstance(logger, logging.Logger)
            and (logger.handlers or not logger.propagate)
        ]
        self._loggers = [(logger, logger.handlers, logger.propagate) for logger in changed]
        for logger in changed:
            logger.handlers = []
            logger.propagate = True
        top.handlers = [_Collector(self.logs)]
        top.propagate = False

    def _release_logs(self) -> None:
        """Give each logger the kit changed its own handlers list and propagate back."""
        while self._loggers:
            logger, handlers, propagate = self._loggers.pop()
            logger.handlers = handlers
            logger.propagate = propagate

    def _deliver(self, claimed: list[Any], before: int) -> int:
        """Deliver claimed messages and what they cause at once, as an engine would:
        its fast path publishes a step's next messages as soon as it commits."""
        queue: deque[tuple[Any, bool]] = deque((m, False) for m in claimed)
        delivered = 0
        while queue:
            message, redelivered = queue.popleft()
            if before + delivered >= MAX_MESSAGES:
                raise SagaTestError(
                    f"{MAX_MESSAGES} messages and still going: a step retried "
                    "with no delay for ever?"
                )
            delivered += 1
            self.delivered += 1
            with self.committed():
                result = self.processor.process(message.body.encode(), redelivered)
            if result.action == DEAD_LETTER:
                raise SagaTestError(
                    f"Message {message.id} of saga {message.saga_id} was dead-lettered: "
                    f"{result.reason}"
                )
            if result.action != ACK:  # the broker would deliver it again
                queue.append((message, True))
                continue
            if result.outgoing:  # no outbox rows: the engine publishes them itself
                queue.extend((m, False) for m in result.outgoing)
            self._observe(message.saga_id)
        return delivered

    def _after_outside(self, saga_id: str) -> Saga:
        self._observe(saga_id)
        self.run()
        return self.saga(saga_id)

    def _observe(self, saga_id: str) -> None:
        """Add the saga's history entries written since the last look to its timeline."""
        seen = self._seen.setdefault(saga_id, {})
        timeline = self._timelines.setdefault(saga_id, [])
        for step in self.store.load_saga(saga_id).steps:
            known = seen.get(step.pk, 0)
            for entry in step.history[known:]:
                timeline.append(
                    Event(str(entry.get("kind", "")), step.name, str(entry.get("outcome", "")))
                )
            seen[step.pk] = len(step.history)

    def _id(self, saga: SagaRef | Saga) -> str:
        return saga.pk if isinstance(saga, Saga) else self.manager.resolve(saga)

    def _require_installed(self) -> None:
        if self._saved is None:
            raise SagaTestError("install() the kit (or use `with kit:`) before running sagas")


class _Collector(logging.Handler):
    """Appends each record it is handed to a list, at every level."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _level(level: int | str) -> int:
    number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(number, int):
        raise ValueError(f"not a logging level: {level!r}")
    return number


class _Jitter:
    """The processor's retry randomness while a kit is installed in any thread:
    the middle of the jitter's range (a retry's delay exactly its policy's)
    where a kit is installed, the processor's own everywhere else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kits = 0
        self._before: Callable[[], float] = random.random

    def __call__(self) -> float:
        return 0.5 if _exact_delays.get() else self._before()

    def attach(self) -> None:
        with self._lock:
            if self._kits == 0 and processor.retry_random is not self:
                self._before = processor.retry_random
                processor.retry_random = self
            self._kits += 1

    def detach(self) -> None:
        with self._lock:
            self._kits -= 1
            if self._kits == 0 and processor.retry_random is self:
                processor.retry_random = self._before


_jitter = _Jitter()


def _require_test_database(alias: str) -> None:
    connection = connections[alias]
    test = connection.settings_dict.get("TEST") or {}
    if test.get("MIRROR"):  # a replica under test reads its primary's test database
        connection = connections[test["MIRROR"]]
        test = connection.settings_dict.get("TEST") or {}
    name = os.fspath(connection.settings_dict.get("NAME") or "")
    if _is_test_database(name, os.fspath(test.get("NAME") or ""), connection.vendor):
        return
    raise ImproperlyConfigured(
        f"SagaTestKit will not run on the database {alias!r} (NAME {name!r}): it is not a "
        "test database. The kit claims the outbox's messages and marks them sent, as an "
        "engine's relay does, so on a live database it would take them from the engines. "
        "It runs on the databases that Django's test runner and pytest-django create (a "
        f"name starting with {TEST_PREFIX!r}, the TEST NAME of the settings, SQLite in "
        "memory); SagaTestKit(allow_any_database=True) runs it on this one anyway."
    )


def _is_test_database(name: str, test_name: str, vendor: str) -> bool:
    """Whether a database named ``name`` is one the test runners set up."""
    if vendor == "sqlite":
        if name == ":memory:" or name.startswith("file:memorydb") or "mode=memory" in name:
            return True
        if os.path.basename(name).startswith(TEST_PREFIX):
            return True
        root, ext = os.path.splitext(test_name)
    else:
        if name.startswith(TEST_PREFIX):
            return True
        root, ext = test_name, ""
    # The runner switched NAME to TEST NAME; a parallel run adds "_<n>" to each copy.
    return bool(test_name) and (
        name == test_name
        or re.fullmatch(re.escape(root) + r"_\d+" + re.escape(ext), name) is not None
    )


def _steps(events: list[Event], kinds: tuple[str, ...], outcome: str) -> list[str]:
    return [e.step for e in events if e.kind in kinds and e.outcome == outcome]


def _normal(value: str | Sequence[str]) -> Any:
    return value if isinstance(value, str) else list(value)
