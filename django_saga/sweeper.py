"""The sweeper: what no message will ever announce.

Every engine runs one. It fails the attempt of a step that has had no result
within its timeout (the engine running it died, or its message waits behind
a backlog), compensates sagas past their deadline, escalates tasks past
their due time, warns about active
sagas that have made no progress for ``STALE_AFTER`` seconds and sends
again what their steps wait for, and (with
``PURGE_IN_ENGINE``) deletes finished sagas older than ``HISTORY_RETENTION``
for at most ``PURGE_BUDGET`` seconds a round; it reports the runs of
limited actions the engine started (their current rate). Timeouts and
deadlines live in the database, so a restart forgets none of them, and the
database's clock decides when they have passed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, connections

from . import flow
from .conf import saga_settings
from .connections import close_broken_connections
from .flow.tally import TALLY
from .limits import MAX_CONCURRENCY, Gate
from .processor import Processor
from .release import release
from .stores import Store
from .stores.base import Busy

logger = logging.getLogger("django_saga.sweeper")

BATCH = 100
#: Messages held by ended pauses one sweep sends again: a backlog of
#: thousands goes in seconds, every engine's sweeper taking its share.
UNPAUSE_BATCH = 1000
STALE_REPORT_EVERY = 60.0
#: Seconds of purging one sweep may spend: the sweeper's other work waits meanwhile.
PURGE_BUDGET = 1.0


@dataclass
class SweepReport:
    timed_out: int = 0
    deadlines: int = 0
    stale: int = 0
    #: Messages of stale sagas' waiting steps sent again (see ``send_again``).
    sent_again: int = 0
    purged: int = 0
    #: Queues of limited actions whose held messages were handed to a release.
    queues: int = 0
    #: Messages held by pauses since ended, sent again.
    unpaused: int = 0
    #: Sagas queued for a key no saga held any more, started.
    unqueued: int = 0
    #: Tasks past their due time, signalled and escalated.
    tasks: int = 0


class Sweeper(threading.Thread):
    def __init__(
        self,
        store: Store,
        processor: Processor,
        release: Callable[[Gate], object] | None = None,
    ) -> None:
        super().__init__(name="saga-sweeper", daemon=True)
        self.store = store
        self.processor = processor
        #: Runs what a queue holds: the engine hands it to a worker thread.
        self.release = release or self._release_here
        self._stop_event = threading.Event()
        self._last_stale_report = 0.0

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(saga_settings.SWEEP_INTERVAL):
                try:
                    close_broken_connections()
                    self.sweep()
                except DatabaseError as exc:
                    logger.warning("Sweep failed, trying again next round: %s", exc)
                    connections.close_all()
        finally:
            connections.close_all()

    def sweep(self) -> SweepReport:
        report = self.sweep_due()
        runs = TALLY.take()
        if runs:
            self.store.record_runs(runs)
        retention = saga_settings.HISTORY_RETENTION
        if retention is not None and saga_settings.PURGE_IN_ENGINE:
            report.purged = self.store.purge_finished(retention, PURGE_BUDGET)
            if report.purged:
                logger.info("Purged %d finished saga(s) older than %ss", report.purged, retention)
        now = time.monotonic()
        if now - self._last_stale_report >= STALE_REPORT_EVERY:
            self._last_stale_report = now
            report.stale, report.sent_again = self.sweep_stale()
        return report

    def sweep_stale(self) -> tuple[int, int]:
        """Warn about stale sagas and send again what they wait for: how many
        sagas, and how many messages."""
        stale = sent_again = 0
        for saga in self.store.stale_sagas(saga_settings.STALE_AFTER, BATCH):
            stale += 1
            sent = self.send_again(saga.pk)
            sent_again += sent
            logger.warning(
                "Stale saga=%s name=%s state=%s: no progress since %s%s",
                saga.pk,
                saga.name,
                saga.state,
                saga.updated_at.isoformat(),
                f"; sent again the message of {sent} step(s) that wait for one" if sent else "",
            )
        return stale, sent_again

    def send_again(self, saga_id: str) -> int:
        """Send again, through the outbox, the message of every step of a stale
        saga that waits for one, unless a row already holds it; how many.

        A message can be lost on its way with the step's result committed:
        the broker lost it (a node's disk, a queue deleted by hand), or its
        redeliveries ran out (``DELIVERY_LIMIT``) while the engines handling
        it kept dying after the commit. A copy of a message that was not lost
        is dropped where it lands. The saga's progress mark is set, so it is
        sent again at most once per ``STALE_AFTER``. Skipped while an engine
        holds one of its steps (it is working on the saga).
        """
        try:
            with self.store.open_saga(saga_id, nowait=True) as unit:
                flow.resend_in_flight(unit)
                sent = len(unit.outgoing)
                if sent:
                    unit.touch()
                return sent
        except Busy:
            return 0

    def release_held(self) -> int:
        """Hand every queue of held messages to a release: the engine whose
        run would have released them may have died, or a slot freed just as
        a message was held. How many queues."""
        queues = self.store.held_queues(BATCH)
        for kind, action, key in queues:
            limit = self.processor.handlers.limit(kind, action)
            # An action no longer limited lets what it held go, without a bound.
            concurrency = (limit.concurrency if limit else None) or MAX_CONCURRENCY
            self.release(Gate(kind, action, key, concurrency))
        return len(queues)

    def _release_here(self, gate: Gate) -> int:
        return release(self.processor, gate)

    def sweep_due(self) -> SweepReport:
        """Time out the attempts and compensate the sagas that are due: the
        part of a sweep that changes sagas (a test clock drives it alone)."""
        report = SweepReport()
        for saga_id, step_id in self.store.due_timeouts(BATCH):
            with self.store.open_step(saga_id, step_id, fast_path=False, timed_out=True) as unit:
                if unit is None or unit.step is None:
                    continue  # running right now, finished, or already handled
                self.processor.time_out(unit, unit.step)
                report.timed_out += 1
        for saga_id in self.store.due_deadlines(BATCH):
            try:
                with self.store.open_saga(saga_id, nowait=True) as unit:
                    if flow.deadline_passed(unit):
                        report.deadlines += 1
                        logger.warning("saga=%s passed its deadline: compensating", saga_id)
            except Busy:
                continue  # a step is running; the next sweep tries again
        report.tasks = self.escalate_due_tasks()
        report.queues = self.release_held()
        report.unpaused = self.store.unpause_held(UNPAUSE_BATCH)
        report.unqueued = self.start_stranded()
        return report

    def escalate_due_tasks(self) -> int:
        """Signal each task past its due time and escalate it as its step
        says (``flow.escalate``); how many."""
        done = 0
        for saga_id, step_id, task_id in self.store.due_tasks(BATCH):
            with self.store.open_step(saga_id, step_id, fast_path=False) as unit:
                if unit is None or unit.step is None:
                    continue
                task = unit.live_task(unit.step, task_id)
                if task is None or task.overdue or task.due_at is None:
                    continue  # answered, or escalated by another engine's sweeper
                logger.info(
                    "saga=%s step=%s: task %s is past its due time: %s",
                    saga_id,
                    unit.step.name,
                    task_id,
                    flow.escalate(unit, task),
                )
                done += 1
        return done

    def start_stranded(self) -> int:
        """Start the first saga queued for each key that no saga holds: it
        joined its queue as the saga holding the key finished. How many."""
        started = 0
        for saga_id in self.store.stranded_queued(BATCH):
            try:
                with self.store.open_saga(saga_id, nowait=True) as unit:
                    started += flow.start_queued(unit)
            except (Busy, IntegrityError):
                continue  # being cancelled, or a new saga took the key: next sweep
        if started:
            logger.info("Started %d saga(s) queued for a key no saga held", started)
        return started
