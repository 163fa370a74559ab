"""The one table the benchmark's handlers and tasks write to."""

from django.db import models


class BenchRow(models.Model):
    """One handler call's write: the small ORM write each step does, and its timings."""

    run = models.CharField(max_length=16)
    #: "saga" or "celery".
    system = models.CharField(max_length=8)
    saga_key = models.CharField(max_length=40)
    position = models.PositiveSmallIntegerField()
    #: time.time() when the handler started.
    started = models.FloatField()
    #: Celery only: time.time() when the previous task committed (first task: when applied).
    prev_done = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["run", "system"], name="bench_row_run_idx")]

    def __str__(self) -> str:
        return f"{self.system} {self.saga_key}#{self.position}"
