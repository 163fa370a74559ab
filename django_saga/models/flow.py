"""Flow control's rows: messages that wait (for a slot of a limited action,
or for a pause to end), the next turn of each rate-limited action, the
pauses of actions and saga names, and the runs of limited actions each
engine counted (their current rate).

A message over its action's concurrency limit is acknowledged and kept
here instead of on an engine thread; when a run of the action ends, the
engine that ran it takes the oldest row of the same queue and runs it
(``release``). A message of something paused waits here too, until the
pause ends and it is sent again. No foreign key to the saga: a row whose
saga has ended or gone is dropped by whoever reaches it, and retention's
deletes take no lock here.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .. import clock
from ..validation import NAME_MAX_CHARS
from .ids import SAGA_ID_MAX_CHARS
from .saga import KEY_MAX_CHARS


class Scope(models.TextChoices):
    """What a pause holds: an action's runs, or the sagas of a name."""

    ACTION = "action", "action"
    NAME = "name", "saga name"


class Pause(models.Model):
    """An operator's pause of every run of the actions, or every saga of the
    names, a pattern matches (``payment.*``), kept once it ends as its own
    trail: who paused and resumed, when and why."""

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField("what", max_length=10, choices=Scope.choices)
    pattern = models.CharField(
        "pattern",
        max_length=NAME_MAX_CHARS,
        help_text="An action or saga name; * stands for any characters (payment.*).",
    )
    reason = models.TextField("reason", blank=True, default="")
    paused_by = models.CharField("paused by", max_length=200)
    paused_at = models.DateTimeField("paused", default=clock.now)
    resumed_by = models.CharField("resumed by", max_length=200, blank=True, default="")
    resumed_at = models.DateTimeField("resumed", null=True, blank=True)
    resume_reason = models.TextField("why resumed", blank=True, default="")

    class Meta:
        verbose_name = "pause"
        verbose_name_plural = "pauses"
        permissions = [("pause_actions", "Can pause and resume actions and saga names")]
        constraints = [
            # One pause at a time of the same thing.
            models.UniqueConstraint(
                fields=["scope", "pattern"],
                condition=Q(resumed_at__isnull=True),
                name="saga_pause_active_once",
            ),
        ]
        indexes = [
            # What every step's read asks: is anything paused now?
            models.Index(
                fields=["id"], name="saga_pause_active_idx", condition=Q(resumed_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} {self.pattern}"

    @property
    def active(self) -> bool:
        return self.resumed_at is None


class HeldMessage(models.Model):
    """A step's message waiting for a slot of its action (the id: arrival
    order), or for a pause to end (``paused``)."""

    id = models.BigAutoField(primary_key=True)
    saga_id = models.CharField("saga", max_length=SAGA_ID_MAX_CHARS)
    step_id = models.CharField("step", max_length=SAGA_ID_MAX_CHARS)
    kind = models.CharField("kind", max_length=20)
    attempt = models.PositiveIntegerField("attempt")
    action = models.CharField("action", max_length=NAME_MAX_CHARS)
    key = models.CharField(
        "key",
        max_length=KEY_MAX_CHARS,
        blank=True,
        help_text="The saga's key for a limit kept per key; empty for one kept for all.",
    )
    paused = models.BooleanField(
        "paused", default=False, help_text="Held by a pause, not for a slot."
    )
    pause_id = models.BigIntegerField(
        "pause", null=True, blank=True, help_text="The pause holding it (none: its saga's own)."
    )
    created_at = models.DateTimeField("held since", auto_now_add=True)

    class Meta:
        verbose_name = "held message"
        verbose_name_plural = "held messages"
        indexes = [
            models.Index(
                fields=["action", "key", "kind", "id"],
                name="saga_held_queue_idx",
                condition=Q(paused=False),
            ),
            models.Index(fields=["saga_id"], name="saga_held_saga_idx"),
            models.Index(
                fields=["pause_id", "id"], name="saga_held_pause_idx", condition=Q(paused=True)
            ),
        ]
        constraints = [
            # A message delivered twice while it waits is held once.
            models.UniqueConstraint(fields=["step_id", "kind", "attempt"], name="saga_held_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of step {self.step_id} waiting for {self.action}"


class RateTurn(models.Model):
    """When the next run of a rate-limited action may start: each run takes
    the turn and moves it on by the rate's interval (``stores.rates``)."""

    name = models.CharField("rate", max_length=NAME_MAX_CHARS + 20, primary_key=True)
    next_at = models.DateTimeField("next turn")

    class Meta:
        verbose_name = "rate turn"
        verbose_name_plural = "rate turns"

    def __str__(self) -> str:
        return f"{self.name}: next turn at {self.next_at.isoformat()}"


#: Seconds an action's current rate is measured over (``ActionRuns``).
RATE_WINDOW = 60
#: Seconds a report of runs is kept before the next report deletes it.
RUNS_KEPT = 600


class ActionRuns(models.Model):
    """Runs of a limited action one engine started since its last report
    (``flow.tally``): the console sums the last ``RATE_WINDOW`` seconds' for
    a current rate. Reports older than ``RUNS_KEPT`` are deleted as new ones
    come in."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField("kind", max_length=20)
    action = models.CharField("action", max_length=NAME_MAX_CHARS)
    runs = models.PositiveIntegerField("runs")
    reported_at = models.DateTimeField("reported at", default=clock.now, db_index=True)

    class Meta:
        verbose_name = "runs of a limited action"
        verbose_name_plural = "runs of limited actions"

    def __str__(self) -> str:
        return f"{self.runs} run(s) of {self.action} reported at {self.reported_at.isoformat()}"
