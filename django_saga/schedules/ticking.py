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
from typing import Any

from django.db import DatabaseError, IntegrityError, connections, transaction

from .. import clock, signals
from ..client import Client
from ..conf import saga_settings
from ..models import TERMINAL_STATES, Missed, Overlap, Saga, Schedule, ScheduleRun
from ..steps import BaseDefinition, build_definition
from ..stores.tables import ModelTable
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
    it came to (claim again while ``report.schedules == batch``).

    The runs of the claimed schedules start together (one multi-row insert a
    table); should that be refused (a tick already run, a definition whose
    steps do not check), each starts alone, so that only its schedule hears
    of it.
    """
    report = TickReport()
    now = clock.now()
    with transaction.atomic(using=using):
        due = list(
            Schedule.objects.using(using)
            .select_for_update(skip_locked=True)
            .filter(enabled=True, next_run_at__lte=now)
            .order_by("next_run_at")[:batch]
        )
        report.schedules = len(due)
        active = _active_runs(due, using)
        plans = [_plan(schedule, now, active) for schedule in due]
        _start_runs([plan for plan in plans if plan.runs], using, client)
        outcomes = [outcome for plan in plans for outcome in plan.close(now, report)]
        _save_ticks([plan.schedule for plan in plans if not plan.waits], using)
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


Start = tuple[BaseDefinition, str, dict[str, Any]]


def run_start(schedule: Schedule, tick: datetime, *, by: str = "") -> Start:
    """The definition, business key and context of ``schedule``'s run at
    ``tick``. Raises what the definition refuses."""
    definition = build_definition(
        schedule.definition, schedule.params, f"schedule {schedule.name!r}"
    )
    if schedule.priority:
        definition.priority = schedule.priority
    key = run_key(schedule.name, tick) if not by else f"{schedule.name}@now-{tick:%Y%m%dT%H%M%S%f}"
    origin = {"name": schedule.name, "tick": tick.isoformat(), **({"by": by} if by else {})}
    return definition, key, {**definition.context(), CONTEXT_KEY: origin}


def start_run(
    schedule: Schedule, tick: datetime, using: str, client: Client, *, by: str = ""
) -> Saga:
    """Start the saga of ``schedule``'s run at ``tick`` and record it (in the
    caller's transaction). Raises what the definition or the start refuses."""
    definition, key, context = run_start(schedule, tick, by=by)
    saga = client.start_definition(definition, key=key, context=context)
    _ran(schedule, tick, saga, using, by)
    return saga


def _ran(schedule: Schedule, tick: datetime, saga: Saga, using: str, by: str = "") -> None:
    ScheduleRun.objects.using(using).create(
        schedule=schedule, tick=tick, saga_id=saga.pk, started_at=clock.now(), by=by
    )
    schedule.last_run_at = clock.now()
    schedule.last_saga_id = saga.pk


@dataclass
class _Plan:
    """One claimed schedule's tick: what it runs, skips and leaves for later,
    and then what came of it."""

    schedule: Schedule
    due: Due
    following: datetime | None
    runs: list[datetime]
    left: int = 0  # due ticks left for a later look
    waits: bool = False  # overlap "wait" with its previous run active: untouched
    started: list[tuple[datetime, str]] = field(default_factory=list)
    refused: int = 0  # ticks that had a run already
    error: str = ""
    failed: int = 0

    def close(self, now: datetime, report: TickReport) -> list[tuple[Schedule, str, int]]:
        """Move the schedule past its tick (saved by the caller) and count."""
        schedule = self.schedule
        if self.waits:
            return []
        skipped = self.due.count - len(self.runs) - self.left + self.refused
        if skipped:
            logger.info("Schedule %s skipped %d missed tick(s)", schedule.name, skipped)
        grace = saga_settings.SCHEDULE_LATE_AFTER
        late = sum(1 for tick, _ in self.started if (now - tick).total_seconds() > grace)
        schedule.next_run_at = self.following
        schedule.skipped += skipped
        schedule.error = self.error
        report.started += len(self.started)
        report.skipped += skipped
        report.late += late
        report.failed += self.failed
        report.sagas += [saga_id for _, saga_id in self.started]
        counts = ((STARTED, len(self.started)), (SKIPPED, skipped), (LATE, late))
        return [(schedule, FAILED, 1)] * self.failed + [
            (schedule, outcome, count) for outcome, count in counts if count
        ]


def _plan(schedule: Schedule, now: datetime, active: set[str]) -> _Plan:
    """Decide which of one due schedule's ticks run, by its policies."""
    assert schedule.next_run_at is not None
    due, following, runs = _chosen(schedule, now)
    plan = _Plan(schedule, due, following, runs)
    if not runs or schedule.overlap == Overlap.ALLOW:
        return plan
    if schedule.last_saga_id in active:
        if schedule.overlap == Overlap.WAIT:
            plan.waits = True  # still due: a later look starts it once the run ends
            plan.runs = []
            return plan
        logger.info(
            "Schedule %s skipped %d tick(s): its previous run, saga %s, is still active",
            schedule.name,
            len(runs),
            schedule.last_saga_id,
        )
        plan.runs = []
    elif schedule.overlap == Overlap.WAIT and len(runs) > 1:
        # One at a time: the oldest now, the next once it has ended.
        plan.following = runs[1]
        plan.left = sum(1 for tick in due.ticks if tick > runs[0])
        plan.runs = runs[:1]
    else:
        plan.runs = runs[-1:]  # the newest: together they would overlap each other
    return plan


def _save_ticks(schedules: list[Schedule], using: str) -> None:
    """Write what the tick changed on each schedule's row: one statement
    sent for them all (the ORM's ``bulk_update`` costs more Python time than
    the tick's inserts)."""
    if not schedules:
        return
    table = ModelTable(Schedule, connections[using])
    with connections[using].cursor() as cursor:
        cursor.executemany(
            table.update_sql(_TICK_FIELDS),
            [table.update_params(schedule, _TICK_FIELDS) for schedule in schedules],
        )


def _active_runs(schedules: list[Schedule], using: str) -> set[str]:
    """Which of the schedules' last runs are still active (one query)."""
    last = [s.last_saga_id for s in schedules if s.last_saga_id and s.overlap != Overlap.ALLOW]
    if not last:
        return set()
    return set(
        Saga.objects.using(using)
        .filter(pk__in=last)
        .exclude(state__in=TERMINAL_STATES)
        .values_list("pk", flat=True)
    )


def _start_runs(plans: list[_Plan], using: str, client: Client) -> None:
    """Start the planned runs, together if the database takes them so."""
    planned: list[tuple[_Plan, datetime, Start]] = []
    for plan in plans:
        for tick in plan.runs:
            try:
                planned.append((plan, tick, run_start(plan.schedule, tick)))
            except Exception as exc:
                _failed(plan, tick, exc)
    if not planned:
        return
    try:
        with transaction.atomic(using=using):
            sagas = client.start_together([start for _, _, start in planned])
            at = clock.now()
            ScheduleRun.objects.using(using).bulk_create(
                ScheduleRun(schedule=plan.schedule, tick=tick, saga_id=saga.pk, started_at=at)
                for (plan, tick, _), saga in zip(planned, sagas, strict=True)
            )
    except IntegrityError:
        pass  # a tick that has a run already: each alone says which
    except DatabaseError:
        raise  # the whole look is retried
    except Exception:
        pass  # a definition's steps that do not check: each alone says whose
    else:
        for (plan, tick, _), saga in zip(planned, sagas, strict=True):
            plan.schedule.last_run_at = at
            plan.schedule.last_saga_id = saga.pk
            plan.started.append((tick, saga.pk))
        return
    for plan, tick, start in planned:
        _start_alone(plan, tick, start, using, client)


def _start_alone(plan: _Plan, tick: datetime, start: Start, using: str, client: Client) -> None:
    definition, key, context = start
    try:
        with transaction.atomic(using=using):
            saga = client.start_definition(definition, key=key, context=context)
            _ran(plan.schedule, tick, saga, using)
    except IntegrityError:
        plan.refused += 1  # this tick has a run already (a schedule made again)
        return
    except DatabaseError:
        raise
    except Exception as exc:
        _failed(plan, tick, exc)
        return
    plan.started.append((tick, saga.pk))


def _failed(plan: _Plan, tick: datetime, exc: Exception) -> None:
    """The definition's own code failed (a bad parameter, say): the schedule
    says so and goes on; its next tick tries again."""
    plan.error = f"{type(exc).__name__}: {exc}"
    plan.failed += 1
    logger.error("Schedule %s could not start its run at %s: %s", plan.schedule.name, tick, exc)


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


def _announce(outcomes: list[tuple[Schedule, str, int]]) -> None:
    for schedule, outcome, count in outcomes:
        signals.schedule_ticked.send(Schedule, schedule=schedule, outcome=outcome, count=count)
