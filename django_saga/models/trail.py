"""The operators' trail: what an operator did to a saga, by whom, when and why.

A row is written in the transaction of the action it records. The trail
outlives its saga: a purge of history leaves it, and its own retention
setting decides when it goes.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from .. import clock
from ..validation import NAME_MAX_CHARS
from .ids import SAGA_ID_MAX_CHARS, new_id
from .saga import Saga


class Intervention(models.Model):
    """What an operator did to a saga, by whom, when and why: the audit trail."""

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
    # The name of an action of ``django_saga.actions``: declared there, so
    # that adding one needs no migration.
    action = models.CharField("action", max_length=30)
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
        return f"{self.action_label}{step} of saga {self.saga_id} by {self.actor}"

    @property
    def action_label(self) -> str:
        """The action as a sentence says it: ``retry step``."""
        return self.action.replace("_", " ")

    def summary(self) -> str:
        """One line for Django's admin log: the action, the step, the reason."""
        step = f" {self.step!r}" if self.step else ""
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.action_label.capitalize()}{step}{reason}"[:2000]
