"""Flow control's rows: messages that wait for a slot of a limited action,
and the next turn of each rate-limited one.

A message over its action's concurrency limit is acknowledged and kept
here instead of on an engine thread; when a run of the action ends, the
engine that ran it takes the oldest row of the same queue and runs it
(``Processor.release``). No foreign key to the saga: a row whose saga has
ended or gone is dropped by whoever reaches it, and retention's deletes
take no lock here.
"""

from __future__ import annotations

from django.db import models

from ..validation import NAME_MAX_CHARS
from .ids import SAGA_ID_MAX_CHARS
from .saga import KEY_MAX_CHARS


class HeldMessage(models.Model):
    """A step's message waiting for a slot of its action (the id: arrival order)."""

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
    created_at = models.DateTimeField("held since", auto_now_add=True)

    class Meta:
        verbose_name = "held message"
        verbose_name_plural = "held messages"
        indexes = [
            models.Index(fields=["action", "key", "kind", "id"], name="saga_held_queue_idx"),
            models.Index(fields=["saga_id"], name="saga_held_saga_idx"),
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
