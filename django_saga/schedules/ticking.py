"""Start the sagas of the schedules that are due: exactly once per tick.

Each engine's ticker (and the test kit) calls ``tick_due``. It claims due
schedule rows with ``FOR UPDATE SKIP LOCKED``, so engines share the work
and never take the same row, and for each one, in one transaction, starts
the runs its policies allow, writes a run row per tick and moves
``next_run_at`` past them. A crash before the commit leaves the row as it
was, due, for the next look; after it, the tick is done. Each run's
business key names the schedule and its tick (``nightly@2026-12-07T01:00:00Z``)
and the run rows hold one per tick, so nothing can start a tick twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, IntegrityError, transaction

from .. import clock, signals
from ..client import Client
from ..conf import saga_settings
from ..models import TERMINAL_STATES, Missed, Overlap, Saga, Schedule, ScheduleRun
from .declaration import build
from .timing import Due, Timing

logger = logging.getLogger("django_saga.schedules")

#: Schedules claimed in one transaction.
BATCH = 100
#: What a tick came to, as the signal and the metrics name it.
STARTED, SKIPPED, LATE, FAILED = "started", "skipped", "late", "failed"
#: The key of the saga's context that says which schedule and tick started it.
CONTEXT_KEY = "schedule"
#: What a tick changes on its schedule's row.
_TICK_FIELDS = ["next_run_at", "skipped", "error", "last_run_at", "last_saga_id", "updated_at"]


@dataclass
class TickReport:
    """What one look at the due schedules did, in ticks."""

    started: int = 0
    skipped: int = 0
    late: int = 0
    failed: int = 0
    #: The schedules claimed.
    schedules: int = 0
    sagas: list[str] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        """Whether any schedule moved on: a tick started, skipped or failed."""
        return bool(self.started or self.skipped or self.failed)


def timing_of(schedule: Schedule) -> Timing:
    return Timing(
        cron=schedule.cron,
        every=schedule.every,
        timezone=schedule.timezone,
        starts=schedule.starts_at,
        ends=schedule.ends_at,
        # An interval without a start counts whole seconds from when it was made.
        anchor=schedule.created_at.replace(microsecond=0),
    )


def run_key(name: str, tick: datetime) -> str:
    """The business key of a schedule's run at ``tick``: the schedule and the
    tick, in UTC to the second."""
    return f"{name}@{tick.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def tick_due(using: str, client: Client, *, batch: int = BATCH) -> TickReport:
    """Start what the due schedules' policies allow, in one transaction; what
    it came to (claim again while ``report.schedules == batch``)."""
    report = TickReport()
    now = clock.now()
    outcomes: list[tuple[Schedule, str, int]] = []
    with transaction.atomic(using=using):
        due = list(
            Schedule.objects.using(using)
            .select_for_update(skip_locked=True)
            .filter(enabled=True, next_run_at__lte=now)
            .order_by("next_run_at")[:batch]
        )
        report.schedules = len(due)
        for schedule in due:
            outcomes.extend(_tick(schedule, now, using, client, report))
        transaction.on_commit(lambda: _announce(outcomes), using=using)
    return report


def next_due(using: str) -> datetime | None:
    """When the next enabled schedule comes due (None: none will)."""
    return (
        Schedule.objects.using(using)
        .filter(enabled=True, next_run_at__isnull=False)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )


def start_run(
    schedule: Schedule, tick: datetime, using: str, client: Client, *, by: str = ""
) -> Saga:
    """Start the saga of ``schedule``'s run at ``tick`` and record it (in the
    caller's transaction). Raises what the definition or the start refuses."""
    where = f"schedule {schedule.name!r}"
    definition = build(schedule.definition, schedule.params, where)
    key = run_key(schedule.name, tick) if not by else f"{schedule.name}@now-{tick:%Y%m%dT%H%M%S%f}"
    origin = {"name": schedule.name, "tick": tick.isoformat(), **({"by": by} if by else {})}
    context = {**definition.context(), CONTEXT_KEY: origin}
    saga = client.start_definition(definition, key=key, context=context)
    ScheduleRun.objects.using(using).create(
        schedule=schedule, tick=tick, saga_id=saga.pk, started_at=clock.now(), by=by
    )
    schedule.last_run_at = clock.now()
    schedule.last_saga_id = saga.pk
    return saga


def _tick(
    schedule: Schedule, now: datetime, using: str, client: Client, report: TickReport
) -> list[tuple[Schedule, str, int]]:
    """Decide one due schedule's ticks and start its runs; the outcomes."""
    assert schedule.next_run_at is not None
    due, following, runs = _chosen(schedule, now)
    outcomes: list[tuple[Schedule, str, int]] = []
    left = 0  # due ticks left for a later look
    if runs and schedule.overlap != Overlap.ALLOW:
        if _previous_active(schedule, using):
            if schedule.overlap == Overlap.WAIT:
                return outcomes  # still due: a later look starts it once the run ends
            logger.info(
                "Schedule %s skipped %d tick(s): its previous run, saga %s, is still active",
                schedule.name,
                len(runs),
                schedule.last_saga_id,
            )
            runs = []
        elif schedule.overlap == Overlap.WAIT and len(runs) > 1:
            # One at a time: the oldest now, the next once it has ended.
            following = runs[1]
            left = sum(1 for tick in due.ticks if tick > runs[0])
            runs = runs[:1]
        else:
            runs = runs[-1:]  # the newest: together they would overlap each other
    skipped = due.count - len(runs) - left
    started = late = 0
    grace = saga_settings.SCHEDULE_LATE_AFTER
    error = ""
    for tick in runs:
        try:
            with transaction.atomic(using=using):
                saga = start_run(schedule, tick, using, client)
        except IntegrityError:
            skipped += 1  # this tick has a run already (a schedule made again)
            continue
        except DatabaseError:
            raise  # the whole look is retried
        except Exception as exc:
            # The definition's own code failed (a bad parameter, say): the
            # schedule says so and goes on; its next tick tries again.
            error = f"{type(exc).__name__}: {exc}"
            logger.error("Schedule %s could not start its run at %s: %s", schedule.name, tick, exc)
            report.failed += 1
            outcomes.append((schedule, FAILED, 1))
            continue
        started += 1
        report.sagas.append(saga.pk)
        if (now - tick).total_seconds() > grace:
            late += 1
    if skipped:
        logger.info("Schedule %s skipped %d missed tick(s)", schedule.name, skipped)
    schedule.next_run_at = following
    schedule.skipped += skipped
    schedule.error = error
    schedule.save(using=using, update_fields=_TICK_FIELDS)
    report.started += started
    report.skipped += skipped
    report.late += late
    outcomes += [
        (schedule, outcome, count)
        for outcome, count in ((STARTED, started), (SKIPPED, skipped), (LATE, late))
        if count
    ]
    return outcomes


def _chosen(schedule: Schedule, now: datetime) -> tuple[Due, datetime | None, list[datetime]]:
    """The due ticks, the next tick after them, and those to run by the
    missed-tick policy, oldest first.

    A tick found within ``SCHEDULE_LATE_AFTER`` of its time runs, however
    many there are (the engines were slow, not down); older ones were missed,
    and the policy says which of them run: none, the latest (unless a recent
    one runs), or each up to ``missed_limit``.
    """
    assert schedule.next_run_at is not None
    timing = timing_of(schedule)
    grace = timedelta(seconds=saga_settings.SCHEDULE_LATE_AFTER)
    spacing = timing.every or 60  # cron ticks are at least a minute apart
    keep = int(grace.total_seconds() // spacing) + 1
    keep += schedule.missed_limit if schedule.missed == Missed.EACH else 1
    due, following = timing.due(schedule.next_run_at, now, keep)
    recent = [tick for tick in due.ticks if now - tick <= grace]
    missed = [tick for tick in due.ticks if now - tick > grace]
    if schedule.missed == Missed.EACH:
        kept = missed[-schedule.missed_limit :]
    elif schedule.missed == Missed.LATEST and not recent:
        kept = missed[-1:]
    else:
        kept = []
    return due, following, kept + recent


def _previous_active(schedule: Schedule, using: str) -> bool:
    if not schedule.last_saga_id:
        return False
    state = (
        Saga.objects.using(using)
        .filter(pk=schedule.last_saga_id)
        .values_list("state", flat=True)
        .first()
    )
    return state is not None and state not in TERMINAL_STATES


def _announce(outcomes: list[tuple[Schedule, str, int]]) -> None:
    for schedule, outcome, count in outcomes:
        signals.schedule_ticked.send(Schedule, schedule=schedule, outcome=outcome, count=count)
