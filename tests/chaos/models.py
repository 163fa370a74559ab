"""The effect ledger: one row per local effect a chaos handler committed."""

from django.db import models


class Effect(models.Model):
    """A step's "do" or a compensation's "undo", written in the handler's transaction."""

    DO = "do"
    UNDO = "undo"
    KINDS = [(DO, "do"), (UNDO, "undo")]

    saga_id = models.CharField(max_length=26)
    step_id = models.CharField(max_length=26)
    kind = models.CharField(max_length=4, choices=KINDS)
    created_at = models.DateTimeField(auto_now_add=True)
    #: The *keyed* kind's runs: the saga's key, and when the handler began and
    #: ended (``time.time()``, one host's clock), so that the checks can see
    #: whether two committed runs of a key overlapped.
    key = models.CharField(max_length=100, blank=True, default="")
    began = models.FloatField(null=True)
    ended = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["saga_id"], name="chaos_effect_saga_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of step {self.step_id}"
