"""Tasks for people: what a task step of a saga asks, to whom it is offered,
who took it and how it ended.

A task step, when reached, writes one ``SagaTask`` row for its attempt
and waits. The task is offered (``TaskOffer`` rows) to groups, to holders of a
permission, or to one user it was delegated to: the inbox asks "which open
tasks are offered to any of my groups, my permissions or me", one indexed
lookup, however many kinds of offer there are. Offers go when the task
ends; the task stays, as the record of who decided what, and goes with its
saga.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .. import clock
from ..validation import NAME_MAX_CHARS
from .ids import SAGA_ID_MAX_CHARS, new_id
from .saga import Saga
from .step import SagaStep

#: The longest user name, group name or permission a task names (Django's
#: user and group names are at most 150 characters, ``app.codename`` more).
WHO_MAX_CHARS = 255


class TaskState(models.TextChoices):
    """Where a task stands: offered, taken by someone, or over."""

    OPEN = "open", "open"
    CLAIMED = "claimed", "claimed"
    COMPLETED = "completed", "completed"
    REJECTED = "rejected", "rejected"
    # Its saga went back (or an operator acted on its step) before anyone answered.
    CANCELLED = "cancelled", "cancelled"


#: States in which someone may still act on a task.
TASK_LIVE_STATES = (TaskState.OPEN, TaskState.CLAIMED)


class OfferKind(models.TextChoices):
    """Whom an offer names."""

    GROUP = "group", "group"
    PERMISSION = "permission", "permission"
    USER = "user", "user"


class SagaTask(models.Model):
    """The task of one attempt of a task step."""

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    saga = models.ForeignKey(
        Saga, on_delete=models.CASCADE, related_name="tasks", verbose_name="saga"
    )
    step = models.ForeignKey(
        SagaStep, on_delete=models.CASCADE, related_name="tasks", verbose_name="step"
    )
    attempt = models.PositiveIntegerField("attempt", help_text="The step's attempt it answers.")
    title = models.CharField("title", max_length=200)
    state = models.CharField(
        "state", max_length=20, choices=TaskState.choices, default=TaskState.OPEN
    )
    form = models.CharField(
        "form", max_length=NAME_MAX_CHARS, help_text="The dotted path of the form it asks."
    )
    shown = models.JSONField(
        "shown", default=dict, blank=True, help_text="What of the saga the task shows."
    )
    claimed_by = models.CharField("claimed by", max_length=WHO_MAX_CHARS, blank=True, default="")
    claimed_at = models.DateTimeField("claimed", null=True, blank=True)
    due_at = models.DateTimeField("due", null=True, blank=True)
    escalations = models.PositiveIntegerField(
        "escalations", default=0, help_text="How many times it was escalated past its due time."
    )
    overdue = models.BooleanField(
        "overdue", default=False, help_text="Past its due time, with nothing left to escalate."
    )
    created_at = models.DateTimeField("created", default=clock.now)
    done_by = models.CharField("done by", max_length=WHO_MAX_CHARS, blank=True, default="")
    done_at = models.DateTimeField("done", null=True, blank=True)
    reason = models.TextField("reason", blank=True, default="", help_text="Why it was rejected.")

    class Meta:
        verbose_name = "task"
        verbose_name_plural = "tasks"
        permissions = [
            ("act_on_any_task", "Can claim, delegate, complete and reject any task"),
        ]
        constraints = [
            # One task per attempt of a step: a redelivered message makes none.
            models.UniqueConstraint(fields=["step", "attempt"], name="saga_task_once"),
            models.CheckConstraint(
                condition=Q(state__in=TaskState.values), name="saga_task_state_valid"
            ),
        ]
        indexes = [
            # The inboxes: live tasks, newest first.
            models.Index(
                fields=["state", "id"],
                name="saga_task_live_idx",
                condition=Q(state__in=["open", "claimed"]),
            ),
            # What a user claimed.
            models.Index(
                fields=["claimed_by", "id"],
                name="saga_task_claimed_idx",
                condition=Q(state="claimed"),
            ),
            # What the sweeper escalates.
            models.Index(
                fields=["due_at"],
                name="saga_task_due_idx",
                condition=Q(state__in=["open", "claimed"], due_at__isnull=False, overdue=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.state})"

    @property
    def live(self) -> bool:
        return self.state in TASK_LIVE_STATES


class TaskOffer(models.Model):
    """One group, permission or user a live task is offered to (deleted
    when the task ends, so that the inbox never reads past ones; ``open``
    follows whether the task is claimed)."""

    id = models.BigAutoField(primary_key=True)
    task: models.ForeignKey[SagaTask] = models.ForeignKey(
        SagaTask, on_delete=models.CASCADE, related_name="offers", verbose_name="task"
    )
    kind = models.CharField("kind", max_length=20, choices=OfferKind.choices)
    name = models.CharField("name", max_length=WHO_MAX_CHARS)
    #: Whether its task is open (not claimed): kept with the task's state, so
    #: that an inbox's counts are read from the offers alone.
    open = models.BooleanField("open", default=True)

    class Meta:
        verbose_name = "task offer"
        verbose_name_plural = "task offers"
        constraints = [
            models.UniqueConstraint(fields=["task", "kind", "name"], name="saga_task_offer_once"),
        ]
        indexes = [
            # "Offered to any of my groups, permissions or me": from the names to
            # the tasks, open ones first; the counts read nothing else.
            models.Index(fields=["kind", "name", "open", "task"], name="saga_task_offer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} offered to {self.kind} {self.name}"
