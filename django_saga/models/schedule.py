"""Schedules: sagas started at set times, the runs they started, and what
operators did to them.

A schedule row is the one place that says which tick comes next: an engine
starts a tick's saga and moves ``next_run_at`` on in one transaction, under
the row's lock, so a tick runs once however many engines look at it. The
run rows list what each tick started (and a unique constraint refuses a
second run of one tick, should a schedule be made again under its name).
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from .. import clock
from .ids import SAGA_ID_MAX_CHARS, new_id
from .saga import PRIORITIES

#: The longest schedule name (it is part of each run's business key).
SCHEDULE_NAME_MAX_CHARS = 100


class Missed(models.TextChoices):
    """What a schedule does with ticks that passed while no engine ran."""

    SKIP = "skip", "skip them"
    LATEST = "latest", "run the latest once"
    EACH = "each", "run each, up to the limit"


class Overlap(models.TextChoices):
    """What a tick does while the schedule's previous run is still active."""

    SKIP = "skip", "skip the tick"
    ALLOW = "allow", "start anyway"
    WAIT = "wait", "wait for it to finish"


class Source(models.TextChoices):
    CODE = "code", "declared in code"
    OPERATOR = "operator", "made by an operator"


class Schedule(models.Model):
    """A saga started at set times: a cron expression or an interval."""

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    name = models.SlugField("name", max_length=SCHEDULE_NAME_MAX_CHARS, unique=True)
    definition = models.CharField(
        "definition",
        max_length=300,
        help_text="The dotted path of the SagaDefinition each run starts.",
    )
    params = models.JSONField(
        "parameters",
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="What the definition is made with: SagaDefinition(**parameters).",
    )
    cron = models.CharField(
        "cron",
        max_length=100,
        blank=True,
        default="",
        help_text="Five fields: minute, hour, day of month, month, day of week.",
    )
    every = models.PositiveIntegerField(
        "every", null=True, blank=True, help_text="Seconds between runs, instead of a cron."
    )
    timezone = models.CharField(
        "time zone", max_length=64, default="UTC", help_text="An IANA name: Europe/Berlin."
    )
    starts_at = models.DateTimeField("starts", null=True, blank=True)
    ends_at = models.DateTimeField("ends", null=True, blank=True)
    missed = models.CharField(
        "missed ticks", max_length=10, choices=Missed.choices, default=Missed.LATEST
    )
    missed_limit = models.PositiveIntegerField(
        "missed limit", default=10, help_text="The most missed ticks 'each' runs."
    )
    overlap = models.CharField(
        "overlap", max_length=10, choices=Overlap.choices, default=Overlap.SKIP
    )
    priority = models.CharField(
        "priority",
        max_length=10,
        blank=True,
        default="",
        choices=[(name, name) for name in PRIORITIES],
        help_text="Its sagas' priority; empty: the definition's own.",
    )
    enabled = models.BooleanField("enabled", default=True)
    source = models.CharField(
        "source", max_length=10, choices=Source.choices, default=Source.OPERATOR, editable=False
    )
    next_run_at = models.DateTimeField(
        "next run", null=True, blank=True, editable=False, help_text="None: it has ended."
    )
    last_run_at = models.DateTimeField("last run", null=True, blank=True, editable=False)
    last_saga_id = models.CharField(
        "last saga", max_length=SAGA_ID_MAX_CHARS, blank=True, default="", editable=False
    )
    skipped = models.PositiveIntegerField(
        "ticks skipped", default=0, editable=False, help_text="Missed, or skipped for overlap."
    )
    error = models.TextField(
        "error", blank=True, default="", editable=False, help_text="Why the last tick failed."
    )
    created_at = models.DateTimeField("created", default=clock.now, editable=False)
    updated_at = models.DateTimeField("updated", auto_now=True)

    class Meta:
        verbose_name = "schedule"
        verbose_name_plural = "schedules"
        ordering = ("name",)
        permissions = [
            ("pause_schedule", "Can pause and resume a schedule"),
            ("trigger_schedule", "Can start a schedule's saga now"),
        ]
        indexes = [
            # What the engines' tickers claim: the enabled schedules due first.
            models.Index(
                fields=["next_run_at"], name="saga_schedule_due_idx", condition=Q(enabled=True)
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(~Q(cron="") & Q(every__isnull=True))
                | (Q(cron="") & Q(every__isnull=False)),
                name="saga_schedule_cron_or_every",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ScheduleRun(models.Model):
    """A saga a schedule started: at a tick, or by an operator's "run now"."""

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="runs", verbose_name="schedule"
    )
    tick = models.DateTimeField("tick", help_text="The time it was due.")
    saga_id = models.CharField("saga", max_length=SAGA_ID_MAX_CHARS)
    started_at = models.DateTimeField("started", default=clock.now)
    by = models.CharField(
        "started by", max_length=200, blank=True, default="", help_text="Blank: the schedule."
    )

    class Meta:
        verbose_name = "schedule run"
        verbose_name_plural = "schedule runs"
        ordering = ("-id",)
        indexes = [
            models.Index(fields=["schedule", "id"], name="saga_schedule_run_idx"),
            # Retention walks them oldest first.
            models.Index(fields=["started_at"], name="saga_schedule_run_started_idx"),
        ]
        constraints = [
            # One run per tick: a second engine, or a schedule made again
            # under its name, cannot start a tick twice.
            models.UniqueConstraint(
                fields=["schedule", "tick"], name="saga_schedule_tick_unique", condition=Q(by="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} at {self.tick.isoformat()}"


class ScheduleIntervention(models.Model):
    """What an operator did to a schedule, by whom, when and why."""

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    # Kept by name: the trail outlives a schedule deleted from code.
    schedule = models.CharField("schedule", max_length=SCHEDULE_NAME_MAX_CHARS, db_index=True)
    action = models.CharField("action", max_length=30)
    actor = models.CharField("by", max_length=200)
    reason = models.TextField("reason", blank=True, default="")
    details = models.JSONField("details", default=dict, blank=True, encoder=DjangoJSONEncoder)
    at = models.DateTimeField("at", default=clock.now)

    class Meta:
        verbose_name = "schedule intervention"
        verbose_name_plural = "schedule interventions"
        ordering = ("-id",)
        # Retention walks them oldest first.
        indexes = [models.Index(fields=["at"], name="saga_schedule_trail_at_idx")]

    def __str__(self) -> str:
        return f"{self.action} of schedule {self.schedule} by {self.actor}"
