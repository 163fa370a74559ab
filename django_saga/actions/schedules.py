"""The operator's hand on schedules: pause, resume and run now.

Each is attributed (``by``), explained (``reason``) and recorded on the
schedule's trail (``ScheduleIntervention``) in the transaction that makes
the change, under the schedule row's lock, so an engine ticking it at that
moment either sees the change or is seen by it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from .. import clock
from ..client import Client
from ..errors import InvalidStateTransition, ScheduleNotFound, brief
from ..models import Saga, Schedule, ScheduleIntervention, ScheduleRun
from ..schedules.ticking import start_run, timing_of
from .declaration import Actor, reason_of

T = TypeVar("T")

#: The schedule actions' names on the trail.
PAUSE, RESUME, RUN_NOW = "pause", "resume", "run_now"


class ScheduleOperator(Client):
    """A client that may also list, pause, resume and run schedules."""

    @property
    def using(self) -> str:
        """The database of the schedules: the Django store's."""
        using = getattr(self.store, "using", None)
        if not isinstance(using, str):
            raise ImproperlyConfigured(
                f"schedules live in the database: the store {type(self.store).__name__} "
                "has none (use the Django store)"
            )
        return using

    def schedules(self) -> list[Schedule]:
        """Every schedule, by name."""
        return list(Schedule.objects.using(self.using).order_by("name"))

    def schedule(self, name: str) -> Schedule:
        """The schedule called ``name``; raises ``ScheduleNotFound``."""
        found = Schedule.objects.using(self.using).filter(name=name).first()
        if found is None:
            raise ScheduleNotFound(f"No schedule {brief(name)}")
        return found

    def schedule_runs(self, name: str, limit: int = 20) -> list[ScheduleRun]:
        """The schedule's latest runs, newest first."""
        return list(self.schedule(name).runs.using(self.using).order_by("-id")[:limit])

    def pause_schedule(self, name: str, *, by: Any = None, reason: str = "") -> Schedule:
        """Stop a schedule ticking until it is resumed; raises
        ``InvalidStateTransition`` if it is paused already."""

        def pause(schedule: Schedule, actor: Actor, why: str) -> Schedule:
            if not schedule.enabled:
                raise InvalidStateTransition(f"Schedule {schedule.name} is paused already.")
            schedule.enabled = False
            schedule.save(using=self.using, update_fields=["enabled", "updated_at"])
            self._record(schedule, PAUSE, actor, why, {})
            return schedule

        return self._on_schedule(name, by, reason, pause)

    def resume_schedule(self, name: str, *, by: Any = None, reason: str = "") -> Schedule:
        """Let a paused schedule tick again from its next tick after now: the
        ticks it slept through are not missed ones, and do not run."""

        def resume(schedule: Schedule, actor: Actor, why: str) -> Schedule:
            if schedule.enabled:
                raise InvalidStateTransition(f"Schedule {schedule.name} is not paused.")
            schedule.enabled = True
            schedule.next_run_at = timing_of(schedule).first_after(clock.now())
            schedule.save(using=self.using, update_fields=["enabled", "next_run_at", "updated_at"])
            self._record(schedule, RESUME, actor, why, {"next_run_at": schedule.next_run_at})
            return schedule

        return self._on_schedule(name, by, reason, resume)

    def run_schedule(self, name: str, *, by: Any = None, reason: str = "") -> Saga:
        """Start the schedule's saga now, beside its ticks (paused or not, and
        whatever its overlap policy: an operator asked); the saga started."""

        def run_now(schedule: Schedule, actor: Actor, why: str) -> Saga:
            saga = start_run(schedule, clock.now(), self.using, self, by=actor.name)
            schedule.save(using=self.using, update_fields=["last_run_at", "last_saga_id"])
            self._record(schedule, RUN_NOW, actor, why, {"saga": saga.pk})
            return saga

        return self._on_schedule(name, by, reason, run_now)

    def schedule_interventions(self, name: str) -> list[ScheduleIntervention]:
        """What operators did to the schedule, oldest first."""
        return list(
            ScheduleIntervention.objects.using(self.using).filter(schedule=name).order_by("id")
        )

    def _on_schedule(
        self, name: str, by: Any, reason: str, change: Callable[[Schedule, Actor, str], T]
    ) -> T:
        actor = Actor.of(by)
        why = reason_of(actor, reason)
        with transaction.atomic(using=self.using):
            schedule = (
                Schedule.objects.using(self.using).select_for_update().filter(name=name).first()
            )
            if schedule is None:
                raise ScheduleNotFound(f"No schedule {brief(name)}")
            return change(schedule, actor, why)

    def _record(
        self, schedule: Schedule, action: str, actor: Actor, reason: str, details: dict
    ) -> None:
        ScheduleIntervention.objects.using(self.using).create(
            schedule=schedule.name, action=action, actor=actor.name, reason=reason, details=details
        )
