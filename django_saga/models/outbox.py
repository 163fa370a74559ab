"""The outbox: messages written in the transaction that caused them.

The relay publishes a row after that transaction commits and marks it sent
when the broker confirms it, so that a message is never lost with a rolled
back change nor sent for one.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .ids import SAGA_ID_MAX_CHARS, new_id
from .saga import Saga


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
    priority = models.PositiveSmallIntegerField(
        "priority",
        default=0,
        # Engines of the previous release insert rows without the column.
        db_default=0,
        help_text="The saga's priority: above 0, the message goes to the priority queue.",
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
