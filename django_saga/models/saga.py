"""A saga: its name, business key, state and context, and how to read its steps.

The steps are rows of their own (:mod:`django_saga.models.step`); a saga
loads them once, in order, and answers questions about its state without
another query.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Exists, OuterRef, Q

from .. import clock
from ..validation import NAME_MAX_CHARS
from .ids import SAGA_ID_MAX_CHARS, new_id
from .lazy_json import LazyJSONField
from .states import (
    ACTIVE_STATES,
    KEY_FREE_STATES,
    SLEEP_ACTION,
    TERMINAL_STATES,
    WAITING_FOR_OPERATOR,
    SagaState,
    StepStatus,
)

if TYPE_CHECKING:
    from .step import SagaStep

#: A saga's priorities, as ``start()`` takes them, and as the column keeps them.
PRIORITIES = {"normal": 0, "high": 1}

#: The longest business key.
KEY_MAX_CHARS = 200
#: The constraint that keeps one unfinished saga per (name, key).
ACTIVE_KEY_CONSTRAINT = "saga_active_key_unique"


class SagaQuerySet(models.QuerySet["Saga"]):
    def active(self) -> SagaQuerySet:
        return self.filter(state__in=ACTIVE_STATES)

    def in_state(self, *states: str) -> SagaQuerySet:
        return self.filter(state__in=states)

    def with_key(self, name: str, key: str) -> SagaQuerySet:
        """Sagas of ``name`` started with the business ``key``, newest first."""
        return self.filter(name=name, key=key).order_by("-pk")

    def stale(self, older_than: timedelta | float) -> SagaQuerySet:
        """Active sagas that have not changed for ``older_than`` (seconds or a
        timedelta), unless one of their steps sleeps, or the saga is paused,
        has a message held (for a slot, or by a pause) or a task waiting for
        a person: such a saga waits for its time or its turn, and is not
        stuck."""
        if not isinstance(older_than, timedelta):
            older_than = timedelta(seconds=older_than)
        now = clock.now()
        # By name: the step's model sits above the saga's (models/step.py).
        steps = apps.get_model("django_saga", "SagaStep")._default_manager
        sleeping = steps.filter(
            saga=OuterRef("pk"),
            action=SLEEP_ACTION,
            status=StepStatus.STARTED,
            timeout_at__gt=now,
        )
        held = apps.get_model("django_saga", "HeldMessage")._default_manager.filter(
            saga_id=OuterRef("pk")
        )
        # A task waits for a person, for as long as people take.
        asking = apps.get_model("django_saga", "SagaTask")._default_manager.filter(
            saga=OuterRef("pk"), state__in=["open", "claimed"]
        )
        quiet = self.active().filter(updated_at__lt=now - older_than, paused=False)
        return quiet.exclude(Exists(sleeping)).exclude(Exists(held)).exclude(Exists(asking))


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
    context = LazyJSONField(
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
    # A child saga's place in its parent (``Step.child``). No foreign-key
    # constraints: retention purges a parent and its children independently.
    parent = models.ForeignKey(
        "self",
        verbose_name="parent",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="children",
        editable=False,
        help_text="The saga whose step started this one, if it is a child saga.",
    )
    parent_step = models.ForeignKey(
        "django_saga.SagaStep",
        verbose_name="parent step",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        editable=False,
        help_text="The parent's step that waits for this saga to end.",
    )
    depth = models.PositiveSmallIntegerField(
        "depth",
        default=0,
        # Engines of the previous release insert sagas without the column.
        db_default=0,
        editable=False,
        help_text="How many parents the saga has (0: it was started, not a child).",
    )
    paused = models.BooleanField(
        "paused",
        default=False,
        # Engines of the previous release insert sagas without the column.
        db_default=False,
        editable=False,
        help_text="An operator paused the saga: none of its handlers runs until resumed.",
    )
    priority = models.PositiveSmallIntegerField(
        "priority",
        default=0,
        db_default=0,
        editable=False,
        help_text="0 normal, 1 high: a high-priority saga's messages are taken first.",
    )
    has_queue = models.BooleanField(
        "has a queue",
        default=False,
        db_default=False,
        editable=False,
        help_text="Sagas started with its key wait for it to finish (if_active='queue').",
    )

    objects = SagaQuerySet.as_manager()

    #: Set by ``start()`` on what it returns: True for a saga it created, False
    #: for the unfinished one that already had the key (None: not from start()).
    created: bool | None = None

    class Meta:
        verbose_name = "saga"
        verbose_name_plural = "sagas"
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
            # The queue of a key, oldest first (if_active="queue").
            models.Index(
                fields=["name", "key", "id"],
                name="saga_queued_idx",
                condition=Q(state="queued"),
            ),
            # A parent's children, newest first (its page, the list's filter).
            models.Index(
                fields=["parent", "id"],
                name="saga_parent_idx",
                condition=Q(parent__isnull=False),
            ),
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
                condition=~Q(key="") & ~Q(state__in=KEY_FREE_STATES),
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
