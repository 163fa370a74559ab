"""Schedules as the console and its JSON API show them, and what an operator
may do to one: pause it, resume it, run it now.

The three actions are declared once here, in ``SCHEDULE_ACTS``, for the
console's pages, its JSON endpoints and their OpenAPI description; each runs
through the manager (``pause_schedule``, ``resume_schedule``,
``run_schedule``), which checks the schedule's state under its row's lock
and writes the schedule's trail. What the pages and the API read comes from
the tables, so that a GET reads ``CONSOLE_DATABASE``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..actions.schedules import PAUSE, RESUME, RUN_NOW
from ..api import manager
from ..errors import SagaDefinitionError
from ..models import Saga, SagaState, Schedule, ScheduleIntervention, ScheduleRun
from ..schedules.ticking import timing_of
from .formatting import from_now

#: Who may see schedules, beside console access (Django's own view permission).
VIEW_SCHEDULE = "django_saga.view_schedule"
#: Who may pause and resume them, and who may run them now.
PAUSE_SCHEDULE = "django_saga.pause_schedule"
TRIGGER_SCHEDULE = "django_saga.trigger_schedule"
#: The ticks a schedule's page and its JSON list ahead.
UPCOMING = 5
#: The runs a schedule's page and its JSON list: the latest ones.
RUNS_SHOWN = 20
#: The trail entries a schedule's page and its JSON list: the latest ones.
TRAIL_SHOWN = 100


@dataclass(frozen=True, eq=False)
class ScheduleAct:
    """One thing an operator may do to a schedule: its URL segment, its words,
    the permission it needs, when it applies, and the manager's method."""

    #: Its URL segment and the end of its URL names (``schedule-pause``).
    slug: str
    #: Its name on the schedule's trail.
    trail: str
    label: str
    #: What a refusal for want of its permission says it is: "pause schedules".
    purpose: str
    #: What the trail shows for it.
    done_label: str
    permission: str
    #: What the confirmation page says it does.
    explanation: str
    #: The OpenAPI operation's id and summary.
    api_id: str
    api_summary: str
    #: The JSON endpoint's status once it is done: 202 when the engine carries it on.
    status: int
    #: The manager's method: ``method(name, by=, reason=)``.
    method: str
    #: Whether it applies to the schedule as it stands (the manager has the last word).
    applies: Callable[[Schedule], bool]
    #: What the operator is told once it is done, from what the manager returned.
    said: Callable[[Any], str]

    def permitted(self, user: Any) -> bool:
        return bool(user.has_perm(self.permission))

    def run(self, name: str, *, by: Any, reason: str) -> Any:
        """Do it through the manager; raises what the manager refuses."""
        return getattr(manager, self.method)(name, by=by, reason=reason)


PAUSE_ACT = ScheduleAct(
    slug="pause",
    trail=PAUSE,
    label="Pause",
    purpose="pause schedules",
    done_label="paused",
    permission=PAUSE_SCHEDULE,
    explanation="The schedule stops ticking until it is resumed: no saga starts at its "
    "ticks meanwhile. A run already started goes on.",
    api_id="pauseSchedule",
    api_summary="Pause a schedule: it does not tick until it is resumed",
    status=200,
    method="pause_schedule",
    applies=lambda schedule: schedule.enabled,
    said=lambda schedule: f"Schedule {schedule.name} paused: it does not tick until resumed.",
)
RESUME_ACT = ScheduleAct(
    slug="resume",
    trail=RESUME,
    label="Resume",
    purpose="resume schedules",
    done_label="resumed",
    permission=PAUSE_SCHEDULE,
    explanation="The schedule ticks again from its next tick after now: the ticks it "
    "slept through do not run.",
    api_id="resumeSchedule",
    api_summary="Resume a paused schedule from its next tick",
    status=200,
    method="resume_schedule",
    applies=lambda schedule: not schedule.enabled,
    said=lambda schedule: (
        f"Schedule {schedule.name} resumed: "
        + (
            f"its next run is at {local_time(schedule.next_run_at, zone_of(schedule))}."
            if schedule.next_run_at
            else "it has ended, and will not run again."
        )
    ),
)
RUN_ACT = ScheduleAct(
    slug="run",
    trail=RUN_NOW,
    label="Run now",
    purpose="run schedules now",
    done_label="ran now",
    permission=TRIGGER_SCHEDULE,
    explanation="The schedule's saga starts now, beside its ticks, whether the schedule "
    "is paused or not and whatever its overlap policy; its ticks stay as they are.",
    api_id="runSchedule",
    api_summary="Start a schedule's saga now, beside its ticks",
    status=202,
    method="run_schedule",
    applies=lambda schedule: True,
    said=lambda saga: f"Started saga {saga.pk}.",
)
SCHEDULE_ACTS = (PAUSE_ACT, RESUME_ACT, RUN_ACT)
#: What the trail shows for each action's name.
TRAIL_LABELS = {act.trail: act.done_label for act in SCHEDULE_ACTS}


def zone_of(schedule: Schedule) -> tzinfo:
    """The schedule's time zone; UTC if it names none that exists (the page still shows)."""
    try:
        return ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return UTC


def local_time(moment: datetime | None, zone: tzinfo) -> str:
    """``"2026-12-08 02:00:00 CET"``: a time in the schedule's zone; ``"—"`` for none."""
    if moment is None:
        return "—"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def upcoming(schedule: Schedule, now: datetime, count: int = UPCOMING) -> list[datetime]:
    """The schedule's next ``count`` ticks: from its next run if it is enabled,
    or after ``now`` (as a resume would go on) if it is paused. None for a
    schedule that has ended, or whose timing cannot be read."""
    timing = timing_of(schedule)
    try:
        timing.check(f"schedule {schedule.name!r}")
        tick = schedule.next_run_at if schedule.enabled else timing.first_after(now)
        ticks: list[datetime] = []
        while tick is not None and len(ticks) < count:
            ticks.append(tick)
            tick = timing.first_after(tick)
    except SagaDefinitionError:
        return []
    return ticks


def saga_states(saga_ids: Iterable[str]) -> dict[str, str]:
    """Each saga's state, by id (a saga purged since is absent), in one query."""
    wanted = {saga_id for saga_id in saga_ids if saga_id}
    if not wanted:
        return {}
    return dict(Saga.objects.filter(pk__in=wanted).values_list("pk", "state"))


def state_label(state: str | None) -> str:
    """A saga's state as the console words it; ``"purged"`` for a saga gone."""
    return SagaState(state).label if state in SagaState.values else "purged"


class _SagaStateShown:
    """A row that shows a saga's state: its last run's, or its own."""

    #: The saga's state: the run's outcome so far (None: no run, or purged).
    saga_state: str | None

    @property
    def saga_state_label(self) -> str:
        return state_label(self.saga_state)


@dataclass(frozen=True)
class ScheduleRow(_SagaStateShown):
    """A schedule as the list and its page show it."""

    schedule: Schedule
    when: str
    #: In the schedule's zone; "none while paused", or "—" once it has ended.
    next_run: str
    #: ``"in 3 hours"``, ``"now"``, ``"2 hours ago"`` (overdue); "" for none.
    next_in: str
    last_run: str
    saga_state: str | None


def schedule_rows(schedules: Iterable[Schedule], now: datetime) -> list[ScheduleRow]:
    schedules = list(schedules)
    states = saga_states(schedule.last_saga_id for schedule in schedules)
    rows = []
    for schedule in schedules:
        zone = zone_of(schedule)
        # A paused schedule keeps the tick it had; it runs none of them.
        next_run = schedule.next_run_at if schedule.enabled else None
        rows.append(
            ScheduleRow(
                schedule=schedule,
                when=timing_of(schedule).describe(),
                next_run=local_time(next_run, zone) if schedule.enabled else "none while paused",
                next_in=from_now(next_run, now) if next_run is not None else "",
                last_run=local_time(schedule.last_run_at, zone),
                saga_state=states.get(schedule.last_saga_id),
            )
        )
    return rows


@dataclass(frozen=True)
class RunRow(_SagaStateShown):
    """A saga the schedule started, and where that saga stands."""

    run: ScheduleRun
    tick: str
    started: str
    saga_state: str | None


def latest_runs(schedule: Schedule, limit: int = RUNS_SHOWN) -> list[RunRow]:
    """The schedule's latest runs, newest first, with their sagas' states."""
    runs = list(ScheduleRun.objects.filter(schedule_id=schedule.pk).order_by("-id")[:limit])
    states = saga_states(run.saga_id for run in runs)
    zone = zone_of(schedule)
    return [
        RunRow(
            run,
            local_time(run.tick, zone),
            local_time(run.started_at, zone),
            states.get(run.saga_id),
        )
        for run in runs
    ]


def latest_trail(
    schedule: Schedule, limit: int = TRAIL_SHOWN
) -> tuple[list[ScheduleIntervention], bool]:
    """The latest ``limit`` operator actions on the schedule, oldest first, and
    whether there were more."""
    latest = ScheduleIntervention.objects.filter(schedule=schedule.name).order_by("-id")
    entries = list(latest[: limit + 1])
    return entries[:limit][::-1], len(entries) > limit
