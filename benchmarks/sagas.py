"""The benchmark's handlers, found by django-saga's autodiscovery of ``sagas.py``.

Each step does one small ORM write, a ``BenchRow`` stamped with the time its
handler started, in the transaction that records the step. ``saga_bench
--limited N`` gives the engines' handlers a concurrency limit of N.
"""

import os
import time

from django_saga import compensation_handler, step_handler

from . import probe
from .models import BenchRow

#: ``saga_bench --limited``: set in the engines' environment only.
LIMIT = int(os.environ.get("SAGA_BENCH_LIMIT") or 0) or None


@step_handler("bench.write", concurrency=LIMIT)
def write(saga, step):
    started = time.time()
    BenchRow.objects.create(
        run=saga.context["run"],
        system="saga",
        saga_key=saga.id,
        position=step.position,
        started=started,
    )
    probe.note_commit(step.id)
    return {}


@compensation_handler("bench.undo", concurrency=LIMIT)
def undo(saga, step):
    BenchRow.objects.filter(saga_key=saga.id, position=step.position).delete()


@step_handler("bench.item", concurrency=LIMIT)
def item(saga, step):
    """One item of a map (or one step of a parallel stage as wide): the same
    one insert, its place in the list as the row's position."""
    BenchRow.objects.create(
        run=saga.context["run"],
        system="map",
        saga_key=saga.id,
        position=step.input["index"] % 32768,
        started=time.time(),
    )
    return {}
