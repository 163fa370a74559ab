"""Sagas, their steps, and the outbox of messages still to publish."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.crypto import constant_time_compare, salted_hmac

from .. import clock
from ..validation import NAME_MAX_CHARS
from .ids import SAGA_ID_MAX_CHARS, new_id
from .states import (
    ACTIVE_STATES,
    DONE,
    IN_FLIGHT,
    TERMINAL_STATES,
    WAITING_FOR_OPERATOR,
    SagaState,
    StepStatus,
)

#: The longest business key.
KEY_MAX_CHARS = 200
#: The constraint that keeps one unfinished saga per (name, key).
ACTIVE_KEY_CONSTRAINT = "saga_active_key_unique"
#: A report token's length: 32 hex digits, 128 bits of an HMAC-SHA256.
REPORT_TOKEN_CHARS = 32
_REPORT_TOKEN_SALT = "django_saga.SagaStep.report_token"


class SagaQuerySet(models.QuerySet["Saga"]):
    def active(self) -> SagaQuerySet:
        return self.filter(state__in=ACTIVE_STATES)

    def in_state(self, *states: str) -> SagaQuerySet:
        return self.filter(state__in=states)

    def with_key(self, name: str, key: str) -> SagaQuerySet:
        """Sagas of ``name`` started with the business ``key``, newest first."""
        return self.filter(name=name, key=key).order_by("-pk")

    def stale(self, older_than: timedelta | float) -> SagaQuerySet:
        """Active sagas that have not changed for ``older_than`` (seconds or a timedelta)."""
        if not isinstance(older_than, timedelta):
            older_than = timedelta(seconds=older_than)
        return self.active().filter(updated_at__lt=clock.now() - older_than)


class Saga(models.Model):
    """One saga: its name, business key, state and context, with its steps.

    Read it through ``manager.get()`` (which loads the steps in order) or
    the admin and console; the engine writes it.
    """

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    name = models.CharField("name", max_length=NAME_MAX_CHARS)
    key = models.CharField(
        "key",
        max_length=KEY_MAX_CHARS,
        blank=True,
        default="",
        # Engines of the previous release insert sagas without the column.
        db_default="",
        help_text="The business key (an order number, say): at most one unfinished "
        "saga of a name has it.",
    )
    state = models.CharField(
        "state", max_length=20, choices=SagaState.choices, default=SagaState.STARTED
    )
    context = models.JSONField(
        "context",
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Saga-wide data every handler can read.",
    )
    error = models.TextField(
        "error", blank=True, default="", help_text="Why the saga did not complete, if it did not."
    )
    created_at = models.DateTimeField("created", auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField("updated", auto_now=True)
    completed_at = models.DateTimeField(
        "completed",
        null=True,
        blank=True,
        help_text="When the saga reached completed or compensated.",
    )
    deadline_at = models.DateTimeField(
        "deadline",
        null=True,
        blank=True,
        help_text="A saga still started after this time is compensated.",
    )
    definition = models.CharField(
        "definition",
        max_length=300,
        blank=True,
        default="",
        help_text="The SagaDefinition class that built the steps, if one did.",
    )
    version = models.CharField(
        "version",
        max_length=50,
        blank=True,
        default="",
        help_text="That definition's version when the saga started.",
    )
    trace_context = models.JSONField(
        "trace context",
        null=True,
        blank=True,
        default=None,
        editable=False,
        help_text="The W3C trace context (traceparent, tracestate) of the saga's start, "
        "when OpenTelemetry traced it: every step's span is its child.",
    )

    objects = SagaQuerySet.as_manager()

    #: Set by ``start()`` on what it returns: True for a saga it created, False
    #: for the unfinished one that already had the key (None: not from start()).
    created: bool | None = None

    class Meta:
        verbose_name = "saga"
        verbose_name_plural = "sagas"
        permissions = [
            ("compensate_saga", "Can compensate a saga"),
            ("retry_saga_compensation", "Can retry a saga's failed compensation"),
            ("retry_saga_step", "Can retry a failed step of a saga"),
            ("skip_saga_step", "Can skip a failed or waiting step of a saga"),
            ("redrive_sagas", "Can re-drive failed sagas in bulk"),
        ]
        ordering = ("-created_at",)
        indexes = [
            # Lists are newest first by id (ULIDs sort by creation time); these
            # serve them filtered by state or name, a page at a time.
            models.Index(fields=["state", "id"], name="saga_state_id_idx"),
            models.Index(fields=["name", "id"], name="saga_name_id_idx"),
            # Both filters at once: without it, a rare pair (compensated
            # refunds) walks every saga of the state, or of the name.
            models.Index(fields=["state", "name", "id"], name="saga_state_name_id_idx"),
            # What retention purges, oldest first.
            models.Index(
                fields=["completed_at"],
                name="saga_finished_idx",
                condition=Q(state__in=TERMINAL_STATES),
            ),
            models.Index(
                fields=["deadline_at"],
                name="saga_deadline_idx",
                condition=Q(state="started", deadline_at__isnull=False),
            ),
            # A key searched alone (the console) or with a name (find(), among
            # finished sagas too); sagas without a key cost it nothing.
            models.Index(fields=["key", "name", "id"], name="saga_key_idx", condition=~Q(key="")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=SagaState.values), name="saga_state_valid"
            ),
            # One unfinished saga per (name, key): the database decides, so
            # concurrent start() calls with one key make exactly one saga.
            models.UniqueConstraint(
                fields=["name", "key"],
                name=ACTIVE_KEY_CONSTRAINT,
                condition=~Q(key="") & ~Q(state__in=TERMINAL_STATES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.id} ({self.state})"

    def is_completed(self) -> bool:
        """Every step done: the saga ended ``completed``."""
        return self.state == SagaState.COMPLETED

    def is_failed(self) -> bool:
        """Stopped for an operator: ``failed``, ``halted`` or ``compensation_failed``."""
        return self.state in WAITING_FOR_OPERATOR

    def is_halted(self) -> bool:
        """A step after the pivot failed for good: an operator must retry or skip it."""
        return self.state == SagaState.HALTED

    def is_compensated(self) -> bool:
        """Undone: the saga ended ``compensated``."""
        return self.state == SagaState.COMPENSATED

    def is_active(self) -> bool:
        """Still moving on its own: ``started`` or ``compensating``."""
        return self.state in ACTIVE_STATES

    @property
    def steps(self) -> list[SagaStep]:
        """The saga's steps in order (loaded once, then cached on the instance)."""
        cached: list[SagaStep] | None = self.__dict__.get("_steps")
        if cached is None:
            cached = list(self.step_set.order_by("position"))
            self.__dict__["_steps"] = cached
        return cached

    def set_steps(self, steps: list[SagaStep]) -> None:
        """Give the instance its steps (stores that load them another way)."""
        self.__dict__["_steps"] = steps

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__.pop("_steps", None)
        super().refresh_from_db(*args, **kwargs)

    @property
    def stages(self) -> list[list[SagaStep]]:
        """The steps grouped by stage, in order: a list of one step per sequential stage."""
        grouped: dict[int, list[SagaStep]] = {}
        for step in self.steps:
            grouped.setdefault(step.stage, []).append(step)
        return [grouped[stage] for stage in sorted(grouped)]

    def step(self, name: str) -> SagaStep:
        """The step called ``name``."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"Saga {self.id} has no step named {name!r}")


class SagaStep(models.Model):
    """One step of a saga: what it calls and undoes, its input and output,
    its status, attempts and their history. A handler receives it as ``step``."""

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    saga = models.ForeignKey(
        Saga,
        on_delete=models.CASCADE,
        related_name="step_set",
        verbose_name="saga",
        # The unique (saga, position) index serves every lookup by saga: a
        # second index would cost an entry per row version for nothing.
        db_index=False,
    )
    position = models.PositiveIntegerField("position", help_text="Order in the saga, from 0.")
    stage = models.PositiveIntegerField(
        "stage",
        default=0,
        help_text="Steps of one stage run in parallel; stages run one after another.",
    )
    name = models.CharField("name", max_length=NAME_MAX_CHARS)
    action = models.CharField("action", max_length=NAME_MAX_CHARS)
    compensation = models.CharField(
        "compensation",
        max_length=NAME_MAX_CHARS,
        blank=True,
        default="",
        help_text="Action that undoes this step; empty if nothing needs undoing.",
    )
    pivot = models.BooleanField(
        "pivot",
        default=False,
        # Kept in the database too: an engine of the previous release,
        # still running during an upgrade, inserts steps without the column.
        db_default=False,
        help_text="The saga's point of no return: once it completes, later "
        "failures are retried forward, never compensated.",
    )
    input = models.JSONField("input", default=dict, blank=True, encoder=DjangoJSONEncoder)
    output = models.JSONField("output", default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(
        "status", max_length=20, choices=StepStatus.choices, default=StepStatus.PENDING
    )
    error = models.TextField("error", blank=True, default="")
    attempts = models.PositiveIntegerField(
        "attempts", default=0, help_text="Execute messages dispatched for this step."
    )
    compensation_attempts = models.PositiveIntegerField(
        "compensation attempts",
        default=0,
        help_text="Compensate messages dispatched for this step.",
    )
    created_at = models.DateTimeField("created", auto_now_add=True)
    updated_at = models.DateTimeField("updated", auto_now=True)
    started_at = models.DateTimeField("dispatched", null=True, blank=True)
    executed_at = models.DateTimeField("executed", null=True, blank=True)
    compensated_at = models.DateTimeField("compensated", null=True, blank=True)
    duration_ms = models.PositiveIntegerField(
        "duration (ms)", null=True, blank=True, help_text="How long the action's handler ran."
    )
    timeout = models.FloatField(
        "timeout (s)", null=True, blank=True, help_text="How long one attempt may take."
    )
    timeout_at = models.DateTimeField(
        "times out",
        null=True,
        blank=True,
        help_text="The current attempt counts as failed if it has no result by then.",
    )
    history = models.JSONField(
        "history",
        default=list,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="One entry per attempt: kind, attempt, outcome, error, time, duration.",
    )

    class Meta:
        verbose_name = "saga step"
        verbose_name_plural = "saga steps"
        ordering = ("saga", "position")
        indexes = [
            models.Index(
                fields=["timeout_at"],
                name="saga_step_timeout_idx",
                condition=Q(timeout_at__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["saga", "position"], name="saga_step_position_unique"),
            models.UniqueConstraint(fields=["saga", "name"], name="saga_step_name_unique"),
            models.CheckConstraint(
                condition=Q(status__in=StepStatus.values), name="saga_step_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.action}): {self.status}"

    @property
    def idempotency_key(self) -> str:
        """Stable across retries and redeliveries: pass it to outside services."""
        return f"{self.saga_id}:{self.id}"

    @property
    def report_token(self) -> str:
        """The token an outside result for this attempt of this step carries back.

        Hand it to the outside service with ``attempts``: a report naming the
        saga by its business key must carry it, so that a report for an
        earlier saga with the same key cannot complete this one. It is an
        HMAC of the saga's id, the step's id and the attempt, keyed with
        Django's ``SECRET_KEY``: computed, never stored, and different for
        every attempt.
        """
        return _report_token(self.saga_id, self.pk, self.attempts, settings.SECRET_KEY)

    def accepts_report_token(self, token: str, attempt: int | None = None) -> bool:
        """Whether ``token`` is this step's ``report_token`` for ``attempt``
        (default: the current one), under ``SECRET_KEY`` or one of
        ``SECRET_KEY_FALLBACKS`` (so that rotating the key keeps waits alive)."""
        if not isinstance(token, str) or not token.isascii():
            return False
        answers = self.attempts if attempt is None else attempt
        keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        matched = False
        for key in keys:
            expected = _report_token(self.saga_id, self.pk, answers, key)
            matched |= constant_time_compare(token, expected)
        return matched


def _report_token(saga_id: str, step_id: str, attempt: int, key: str | bytes) -> str:
    digest = salted_hmac(
        _REPORT_TOKEN_SALT, f"{saga_id}:{step_id}:{attempt}", secret=key, algorithm="sha256"
    )
    return digest.hexdigest()[:REPORT_TOKEN_CHARS]


class OutboxMessage(models.Model):
    """A message written in the transaction that caused it, published after commit."""

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    saga = models.ForeignKey(
        Saga, on_delete=models.CASCADE, related_name="outbox_messages", verbose_name="saga"
    )
    kind = models.CharField("kind", max_length=20)
    body = models.TextField("body")
    created_at = models.DateTimeField("created", auto_now_add=True)
    available_at = models.DateTimeField(
        "available", help_text="A relay may publish the row from this time on."
    )
    sent_at = models.DateTimeField(
        "sent", null=True, blank=True, help_text="When the broker confirmed the message."
    )

    class Meta:
        verbose_name = "outbox message"
        verbose_name_plural = "outbox messages"
        indexes = [
            models.Index(
                fields=["available_at"],
                name="saga_outbox_unsent_idx",
                condition=Q(sent_at__isnull=True),
            ),
            models.Index(
                fields=["sent_at"],
                name="saga_outbox_sent_idx",
                condition=Q(sent_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} for saga {self.saga_id}"


class Intervention(models.Model):
    """What an operator did to a saga, by whom, when and why: the audit trail."""

    class Action(models.TextChoices):
        COMPENSATE = "compensate", "compensate"
        RETRY_COMPENSATION = "retry_compensation", "retry compensation"
        RETRY_STEP = "retry_step", "retry step"
        SKIP_STEP = "skip_step", "skip step"

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    # The trail outlives its saga: a purge leaves it, and AUDIT_RETENTION
    # decides when it goes (no constraint, so the row may name a saga gone).
    saga = models.ForeignKey(
        Saga,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="interventions",
        verbose_name="saga",
    )
    action = models.CharField("action", max_length=30, choices=Action.choices)
    step = models.CharField(
        "step", max_length=NAME_MAX_CHARS, blank=True, default="", help_text="The step's name."
    )
    actor = models.CharField(
        "by", max_length=200, help_text="Who asked: a user name, or the command line's user."
    )
    reason = models.TextField("reason", blank=True, default="")
    details = models.JSONField(
        "details",
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="The saga's state before, and any input or output the operator gave.",
    )
    batch = models.CharField(
        "re-drive",
        max_length=SAGA_ID_MAX_CHARS,
        blank=True,
        default="",
        help_text="The bulk re-drive this action was part of, if any.",
    )
    at = models.DateTimeField("at", default=clock.now)

    class Meta:
        verbose_name = "intervention"
        verbose_name_plural = "interventions"
        ordering = ("id",)
        indexes = [
            models.Index(
                fields=["batch", "saga"],
                name="saga_intervention_batch_idx",
                condition=~Q(batch=""),
            ),
            # The trail's own purge walks it oldest first.
            models.Index(fields=["at"], name="saga_intervention_at_idx"),
        ]

    def __str__(self) -> str:
        step = f" step {self.step!r}" if self.step else ""
        return f"{self.get_action_display()}{step} of saga {self.saga_id} by {self.actor}"

    def summary(self) -> str:
        """One line for Django's admin log: the action, the step, the reason."""
        step = f" {self.step!r}" if self.step else ""
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.get_action_display().capitalize()}{step}{reason}"[:2000]


class ApiToken(models.Model):
    """A bearer token for the console's JSON API: whoever holds it acts as ``user``.

    Only a hash of the token is kept: the token itself is shown once, when it
    is made, and cannot be read back. ``prefix`` (part of the token, not
    secret) finds the row; the rest is checked against ``digest``. A revoked
    token keeps its row, so that the list still says when it was last used.
    """

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="saga_api_tokens",
        verbose_name="user",
        help_text="Requests with the token act as this user, with this user's permissions.",
    )
    name = models.CharField(
        "name", max_length=100, help_text="What the token is for, e.g. 'deploy pipeline'."
    )
    prefix = models.CharField(
        "prefix",
        max_length=16,
        unique=True,
        editable=False,
        help_text="The start of the token, to tell tokens apart; not a secret.",
    )
    digest = models.CharField("SHA-256 of the token", max_length=64, editable=False)
    created_at = models.DateTimeField("created", auto_now_add=True)
    last_used_at = models.DateTimeField(
        "last used",
        null=True,
        blank=True,
        editable=False,
        help_text="When a request last used it (to the minute).",
    )
    revoked_at = models.DateTimeField(
        "revoked",
        null=True,
        blank=True,
        editable=False,
        help_text="When it was revoked: from then on every request with it is refused.",
    )

    class Meta:
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


__all__ = [
    "ACTIVE_KEY_CONSTRAINT",
    "ACTIVE_STATES",
    "DONE",
    "IN_FLIGHT",
    "KEY_MAX_CHARS",
    "REPORT_TOKEN_CHARS",
    "SAGA_ID_MAX_CHARS",
    "TERMINAL_STATES",
    "WAITING_FOR_OPERATOR",
    "ApiToken",
    "Intervention",
    "OutboxMessage",
    "Saga",
    "SagaQuerySet",
    "SagaState",
    "SagaStep",
    "StepStatus",
    "new_id",
]
