"""``SagaTestKit``: the engine, its relay and its sweeper in the test's own
thread, delivering the outbox's messages through the engine's ``Processor``
on a test clock."""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Min

from ..api import Manager, SagaRef
from ..definition import Declared, SagaDefinition
from ..models import (
    IN_FLIGHT,
    TASK_LIVE_STATES,
    OutboxMessage,
    Saga,
    SagaState,
    SagaStep,
    SagaTask,
)
from ..processor import ACK, DEAD_LETTER, Processor
from ..registry import HandlerRegistry, registry
from ..release import release
from ..schedules.ticking import next_due as next_tick
from ..schedules.ticking import tick_due
from ..stores import get_store
from ..stores.django import DjangoStore
from ..sweeper import Sweeper
from . import assertions, commits, logs
from .clock import Saved, TestClock, give_back, take_over
from .database import require_test_database
from .timeline import Event, Timelines

#: Outbox rows claimed at once; the kit marks them sent as it claims them.
BATCH = 100
#: Messages one ``run()`` may deliver before it gives up: a step retried with
#: no delay for ever would otherwise hang the test.
MAX_MESSAGES = 10_000


class SagaTestError(AssertionError):
    """What the kit cannot go on with: a message dead-lettered, or no rest in sight."""


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
        self._timelines = Timelines(chosen)
        self.allow_any_database = allow_any_database
        # What install() replaced in this context: the clock's source, exact delays.
        self._saved: Saved | None = None
        #: The records django-saga logged while the kit was installed, oldest
        #: first (with ``capture_logs``; at the levels its loggers let through).
        self.logs: list[logging.LogRecord] = []
        self.capture_logs = capture_logs
        # Each logger the kit changed, with its handlers and propagate as they were.
        self._loggers: list[logs.Saved] = []
        # Where the records of the current installation begin in ``logs``.
        self._first_log = 0

    # -- installing ----------------------------------------------------------
    def install(self) -> SagaTestKit:
        if self._saved is None:
            if not self.allow_any_database:
                require_test_database(self.store.using)
            self._saved = take_over(self.clock)
            if self.capture_logs:
                self._first_log = len(self.logs)
                self._loggers = logs.capture(self.logs)
        return self

    def uninstall(self) -> None:
        if self._saved is not None:
            saved, self._saved = self._saved, None
            give_back(saved)
            logs.release(self._loggers)

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
            logs.hand_over(self.logs[first:])

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
        self._timelines.observe(started.pk)
        self.run()
        return self.saga(started.pk)

    def run(self) -> int:
        """Deliver every message due by the test clock, start the sagas of the
        schedules that are due, and time out and compensate what is due, until
        nothing more is; how many messages ran."""
        self._require_installed()
        delivered = 0
        while True:
            claimed = self.store.claim_due(BATCH, lease=0)
            if claimed:
                self.store.mark_sent([m.id for m in claimed])
                delivered += self._deliver(claimed, delivered)
                continue
            with self.committed():
                ticks = tick_due(self.store.using, self.manager)
                report = self.sweeper.sweep_due()
            moved = (
                report.timed_out
                or report.deadlines
                or report.unpaused
                or report.unqueued
                or report.tasks
            )
            if not (ticks.started or moved):
                return delivered
            self._timelines.observe_all()

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
        """When the next message, timeout, deadline, schedule's tick or task's
        due time comes (None: nothing waits)."""
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
            next_tick(using),
            SagaTask.objects.using(using)
            .filter(state__in=TASK_LIVE_STATES, overdue=False)
            .aggregate(at=Min("due_at"))["at"],
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

    def task(self, saga: SagaRef | Saga, step: str) -> SagaTask:
        """The latest task of the task step ``step`` (by name)."""
        self._require_installed()
        found = SagaTask.objects.using(self.store.using).filter(
            saga_id=self._id(saga), step__name=step
        )
        task = found.order_by("-id").first()
        if task is None:
            raise AssertionError(f"step {step!r} of saga {self._id(saga)} has made no task")
        return task

    def complete_task(
        self, saga: SagaRef | Saga, step: str, data: Mapping[str, Any] | None = None, *, by: Any
    ) -> Saga:
        """Submit the form of ``step``'s task as the user ``by`` (a user or a
        user name) would, with their rights, and run on."""
        saga_id = self._id(saga)
        with self.committed():
            self.manager.complete_task(self.task(saga_id, step).pk, data, by=by)
        return self._after_outside(saga_id)

    def reject_task(self, saga: SagaRef | Saga, step: str, reason: str, *, by: Any) -> Saga:
        """Reject ``step``'s task as the user ``by`` would, and run on."""
        saga_id = self._id(saga)
        with self.committed():
            self.manager.reject_task(self.task(saga_id, step).pk, by=by, reason=reason)
        return self._after_outside(saga_id)

    def committed(self) -> contextlib.AbstractContextManager[None]:
        """Run the on-commit callbacks (django-saga's signals) of what the block
        does when it ends, as a commit would.

        Inside a ``TestCase`` (or pytest-django's ``db``) nothing commits: the
        callbacks would wait for the end of the test and be dropped. They are
        taken off the connection's list as they run, so a real commit later
        does not run them twice. Outside a transaction Django runs them at
        once and this does nothing.
        """
        return commits.committed(self.store.using)

    # -- reading -------------------------------------------------------------
    def saga(self, saga: SagaRef | Saga) -> Saga:
        """The saga as it stands now, with its steps."""
        return self.manager.get(self._id(saga))

    def timeline(self, saga: SagaRef | Saga) -> list[Event]:
        """What happened to the saga's steps, in the order it happened:
        every attempt, outside result, compensation and operator's retry."""
        return self._timelines.of(self._id(saga))

    def assert_saga(
        self,
        saga: SagaRef | Saga,
        state: str | None = None,
        *,
        ran: Sequence[str] | None = None,
        compensated: Sequence[str] | None = None,
        skipped: Sequence[str] | None = None,
        items: Mapping[str, Mapping[str, int]] | None = None,
        children: Mapping[str, str] | None = None,
    ) -> Saga:
        """Check the saga's state, and which steps ran to completion, had their
        compensation run and were skipped, each in the order it happened;
        ``items``: how many items of each named map ended in each status
        (``{"reserve": {"completed": 3}}``); ``children``: the state each
        child saga ended in, by the step that started it (``{"ship[0]":
        "completed"}``, every child). Fails with the saga's timeline;
        returns the saga."""
        current = self.saga(saga)
        events = self.timeline(current)
        wrong = assertions.differences(
            current,
            events,
            state=state,
            ran=ran,
            compensated=compensated,
            skipped=skipped,
            items=items,
            children=children,
            child_sagas=self.manager.children(current.pk) if children is not None else (),
        )
        if wrong:
            # The kit keeps the logs out of the test's output: show what concerns the saga.
            logged = [m for m in self.log_messages() if current.pk in m]
            raise AssertionError(assertions.failure(current, wrong, events, logged))
        return current

    def log_messages(self, level: int | str = logging.WARNING) -> list[str]:
        """The messages of the records in ``logs`` at ``level`` or above, in order,
        e.g. to check that a step's failure was logged::

            assert any("outcome=failed" in m for m in kit.log_messages())
        """
        return logs.messages(self.logs, level)

    def log_text(self, level: int | str = logging.NOTSET) -> str:
        """The records in ``logs`` at ``level`` or above, one formatted line each
        (and the traceback of those that carry one)."""
        return logs.text(self.logs, level)

    # -- inside --------------------------------------------------------------
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
            for gate in result.gates:  # as the engine's worker: what was held runs
                with self.committed():
                    release(self.processor, gate)
            self._timelines.observe(message.saga_id)
        return delivered

    def _after_outside(self, saga_id: str) -> Saga:
        self._timelines.observe(saga_id)
        self.run()
        return self.saga(saga_id)

    def _id(self, saga: SagaRef | Saga) -> str:
        return saga.pk if isinstance(saga, Saga) else self.manager.resolve(saga)

    def _require_installed(self) -> None:
        if self._saved is None:
            raise SagaTestError("install() the kit (or use `with kit:`) before running sagas")
