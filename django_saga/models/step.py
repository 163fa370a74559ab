"""One step of a saga, and the token an outside result for it must carry.

A step's row holds what it calls and what undoes it, its input and output,
its status and the history of its attempts. Its report token is computed
from its ids and the attempt, never stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.crypto import constant_time_compare, salted_hmac

from ..errors import SagaNotFound, brief
from ..validation import NAME_MAX_CHARS
from .ids import SAGA_ID_MAX_CHARS, new_id
from .lazy_json import LazyJSONField
from .saga import Saga
from .states import CHILD_ACTION, MAP_ACTION, SLEEP_ACTION, TASK_ACTION, StepStatus

#: Where the positions of a map stage's items begin: item ``i`` of the map at
#: position ``p`` is at ``ITEM_POSITIONS + p * MAP_ITEMS_MAX + i``. The items
#: sort after every declared step, a map's items together and in order, and
#: the saga's unique (saga, position) index serves both the declared steps
#: (``position < ITEM_POSITIONS``) and one map's items (a range) with no
#: index of their own. ``MAP_ITEMS_MAX`` bounds the ``MAP_MAX_ITEMS``
#: setting; maps are declared at positions below ``MAP_POSITIONS_MAX``.
ITEM_POSITIONS = 10**9
MAP_ITEMS_MAX = 10**6
MAP_POSITIONS_MAX = 1000

#: A report token's length: 32 hex digits, 128 bits of an HMAC-SHA256.
REPORT_TOKEN_CHARS = 32
_REPORT_TOKEN_SALT = "django_saga.SagaStep.report_token"


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
    input = LazyJSONField("input", default=dict, blank=True, encoder=DjangoJSONEncoder)
    output = LazyJSONField("output", default=dict, blank=True, encoder=DjangoJSONEncoder)
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
    history = LazyJSONField(
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
            # A map's items by status, in order: the next pending ones, the
            # ones in flight, whether any is still moving, each read without
            # going through the others. Only items are in it: the declared
            # steps of a saga pay nothing for it.
            models.Index(
                fields=["saga", "status", "position"],
                name="saga_step_item_status_idx",
                condition=Q(position__gte=ITEM_POSITIONS),
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

    @property
    def is_sleep(self) -> bool:
        return self.action == SLEEP_ACTION

    @property
    def sleeping_until(self) -> datetime | None:
        """When a sleep step that has started sleeping wakes (None for any other step)."""
        if self.is_sleep and self.status == StepStatus.STARTED:
            return self.timeout_at
        return None

    @property
    def is_child(self) -> bool:
        """A step whose work is a saga of its own (``Step.child``)."""
        return self.action == CHILD_ACTION

    @property
    def is_task(self) -> bool:
        """A step a person answers (``django_saga.Task``)."""
        return self.action == TASK_ACTION

    @property
    def is_map(self) -> bool:
        """The row of a map stage, which stands for its items."""
        return self.action == MAP_ACTION

    @property
    def is_item(self) -> bool:
        """One item of a map stage (made when the map ran)."""
        return self.position >= ITEM_POSITIONS

    @property
    def map_position(self) -> int:
        """The position of the map this item belongs to."""
        return (self.position - ITEM_POSITIONS) // MAP_ITEMS_MAX

    @property
    def ordinal(self) -> str:
        """Where the step stands, as people count: ``3`` for the third
        declared step, ``2.5`` for the fifth item of the map that is the
        second."""
        if self.is_item:
            return f"{self.map_position + 1}.{self.item_index + 1}"
        return str(self.position + 1)

    @property
    def first_item_position(self) -> int:
        """The position of this map's first item (its items take the
        ``MAP_ITEMS_MAX`` positions from there)."""
        return ITEM_POSITIONS + self.position * MAP_ITEMS_MAX

    @property
    def items_filter(self) -> Q:
        """The rows of this map's items: a range of its saga's positions, which
        the saga's unique (saga, position) index serves."""
        first = self.first_item_position
        return Q(saga_id=self.saga_id, position__gte=first, position__lt=first + MAP_ITEMS_MAX)

    @property
    def item_index(self) -> int:
        """This item's index in its map's list, from 0."""
        return (self.position - ITEM_POSITIONS) % MAP_ITEMS_MAX

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


def find_step(saga_id: str, steps: Iterable[SagaStep], name_or_id: str) -> SagaStep:
    """The step of ``steps`` named ``name_or_id``, or with that id: every door
    names a step either way. Raises ``SagaNotFound``."""
    for step in steps:
        if name_or_id in (step.name, step.pk):
            return step
    raise SagaNotFound(f"Saga {saga_id} has no step {brief(name_or_id)}")
