"""Models the test handlers write to, so tests can see local effects."""

from django.db import models


class Ledger(models.Model):
    """One row per effect a handler committed, keyed by the step that caused it."""

    step_id = models.CharField(max_length=26)
    action = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["step_id"])]

    def __str__(self) -> str:
        return f"{self.action} by step {self.step_id}"


class Run(models.Model):
    """One run of a limited test handler: when it began and ended (seconds
    since the epoch, on the host every engine of a test shares)."""

    action = models.CharField(max_length=100)
    saga_id = models.CharField(max_length=26)
    key = models.CharField(max_length=200, blank=True)
    began = models.FloatField()
    ended = models.FloatField()

    def __str__(self) -> str:
        return f"{self.action} of saga {self.saga_id}"
