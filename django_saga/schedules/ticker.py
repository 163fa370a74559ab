"""The engine's ticker thread: start scheduled sagas when they come due.

Every engine runs one (unless ``SCHEDULES`` is off). It first makes the rows
of the schedules code declares, then looks for due schedules at least once a
``POLL`` and, between looks, sleeps until the next one comes due, so a tick
starts within moments of its time; engines share the due schedules through
row locks (see ``ticking``). All its database work happens on its own thread,
whose connections it closes when it stops.
"""

from __future__ import annotations

import logging
import threading

from django.db import DatabaseError

from .. import clock
from ..client import Client
from ..connections import close_broken_connections, drop_connections
from .sync import SyncReport, sync
from .ticking import BATCH, tick_due
from .ticking import next_due as next_due_at

logger = logging.getLogger("django_saga.schedules")

#: The longest wait between two looks: how soon a schedule an operator made,
#: resumed or changed elsewhere is seen.
POLL = 1.0


class Ticker(threading.Thread):
    def __init__(self, using: str, client: Client) -> None:
        super().__init__(name="saga-ticker", daemon=True)
        self.using = using
        self.client = client
        self._stop_event = threading.Event()
        self._synced = threading.Event()
        self._sync_report: SyncReport | None = None
        self._sync_error: BaseException | None = None

    def begin(self) -> SyncReport:
        """Start the thread once it has made the rows of code's schedules;
        a declaration the database refuses is raised here, at engine start."""
        self.start()
        self._synced.wait()
        if self._sync_error is not None:
            self.join()
            raise self._sync_error
        assert self._sync_report is not None
        return self._sync_report

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        try:
            try:
                self._sync_report = sync(self.using)
            except BaseException as exc:
                self._sync_error = exc
                return
            finally:
                self._synced.set()
            while not self._stop_event.is_set():
                self._stop_event.wait(self.look())
        finally:
            drop_connections()

    def look(self) -> float:
        """Start what is due; how long until the next look."""
        try:
            close_broken_connections()
            report = tick_due(self.using, self.client)
            if report.schedules == BATCH:
                return 0.0  # more are due: claim the next batch at once
            due = next_due_at(self.using)
        except DatabaseError as exc:
            logger.warning("Schedules: the database failed, trying again: %s", exc)
            drop_connections()
            return POLL
        except Exception:
            # Whatever went wrong, the thread lives on: the next look tries again.
            logger.exception("Schedules: a look at the due schedules failed")
            return POLL
        if due is None:
            return POLL
        wait = (due - clock.now()).total_seconds()
        if wait <= 0 and not report.moved:
            # Due, yet nothing could be claimed: another engine holds the row,
            # or a tick waits for its previous run. Look again in a while.
            return POLL
        return min(max(wait, 0.0), POLL)
