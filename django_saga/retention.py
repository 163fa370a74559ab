"""Retention: finished sagas are deleted, oldest first, in small batches.

Only ``completed`` and ``compensated`` sagas are ever purged; a ``failed``
or ``compensation_failed`` saga still has something for an operator to do.
Each batch is one short transaction: it locks the rows it takes with
``SKIP LOCKED`` (on PostgreSQL), so several engines or a cron job can purge
side by side and nobody waits on them, optionally writes each saga to an
archive, and deletes the sagas with their steps and outbox rows.

An archive is a gzip file of JSON lines, one saga per line with its steps and
their attempt history; ``read_archive`` reads it back. A batch is written and
flushed to disk before its delete commits, so a crash between the two leaves
the sagas both archived and still in the database: the next run archives
them again. Readers should keep the last line per saga id.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction
from django.db.models import Count, Model, Q, QuerySet

from . import clock
from .models import TERMINAL_STATES, Intervention, Saga, SagaStep

#: Sagas one batch deletes unless told otherwise: a transaction of tens of milliseconds.
DEFAULT_BATCH = 500
#: The most one batch may hold: a larger one would hold its locks too long.
MAX_BATCH = 10_000
#: What an archive's lines say they are.
ARCHIVE_FORMAT = "django-saga-archive/1"


class RetentionError(ValueError):
    """A purge asked for something retention never does."""


@dataclass
class PurgeReport:
    """What a purge deleted (or, on a dry run, would delete)."""

    sagas: int = 0
    steps: int = 0
    batches: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    dry_run: bool = False


def purgeable(
    older_than: float | timedelta,
    states: Sequence[str] = TERMINAL_STATES,
    names: Sequence[str] = (),
    using: str = "default",
) -> QuerySet[Saga]:
    """Sagas in ``states`` that finished more than ``older_than`` (seconds) ago."""
    refused = sorted(set(states) - set(TERMINAL_STATES))
    if refused:
        raise RetentionError(
            f"sagas in {', '.join(refused)} are never purged: only "
            f"{' and '.join(TERMINAL_STATES)} sagas are (an operator still has work there)"
        )
    if not states:
        raise RetentionError("no state to purge")
    if not isinstance(older_than, timedelta):
        older_than = timedelta(seconds=older_than)
    if older_than < timedelta(0):
        raise RetentionError("the age to purge from must not be negative")
    queryset = Saga.objects.using(using).filter(
        state__in=list(states), completed_at__lt=clock.now() - older_than
    )
    if names:
        queryset = queryset.filter(name__in=list(names))
    return queryset


def purge(
    older_than: float | timedelta,
    *,
    states: Sequence[str] = TERMINAL_STATES,
    names: Sequence[str] = (),
    batch_size: int = DEFAULT_BATCH,
    dry_run: bool = False,
    archive: Archive | None = None,
    using: str = "default",
    budget: float | None = None,
    on_batch: Callable[[PurgeReport], None] | None = None,
) -> PurgeReport:
    """Delete what ``purgeable`` selects, ``batch_size`` sagas per transaction.

    ``budget`` (seconds) stops after the batch that exhausts it: an engine
    purges a slice at a time and goes back to its other work.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise RetentionError(f"the batch size must be from 1 to {MAX_BATCH}, got {batch_size}")
    selected = purgeable(older_than, states, names, using)
    report = PurgeReport(dry_run=dry_run)
    started = time.monotonic()
    if dry_run:
        rows = selected.order_by().values("state").annotate(n=Count("pk"))
        report.by_state.update({row["state"]: row["n"] for row in rows})
        report.sagas = sum(report.by_state.values())
        report.steps = SagaStep.objects.using(using).filter(saga__in=selected).count()
    else:
        after: tuple[datetime, str] | None = None
        while True:
            with transaction.atomic(using=using):
                after = _purge_batch(selected, after, batch_size, archive, report, using)
            if after is None:
                break
            report.batches += 1
            report.seconds = time.monotonic() - started
            if on_batch is not None:
                on_batch(report)
            if budget is not None and report.seconds >= budget:
                break
    report.seconds = time.monotonic() - started
    return report


def _purge_batch(
    selected: QuerySet[Saga],
    after: tuple[datetime, str] | None,
    batch_size: int,
    archive: Archive | None,
    report: PurgeReport,
    using: str,
) -> tuple[datetime, str] | None:
    """One batch, in the caller's transaction; where the next one starts (None: done)."""
    batch = selected
    if after is not None:
        # Oldest first, from where the previous batch stopped: the walk never
        # goes back over the index entries it has just deleted.
        finished_at, saga_id = after
        batch = batch.filter(completed_at__gte=finished_at).filter(
            Q(completed_at__gt=finished_at) | Q(pk__gt=saga_id)
        )
    if connections[using].features.has_select_for_update_skip_locked:
        # A saga an engine holds right now (a late duplicate message) is left for next time.
        batch = batch.select_for_update(skip_locked=True)
    rows = list(batch.order_by("completed_at", "pk").values_list("pk", "completed_at", "state")[
        :batch_size
    ])  # fmt: skip
    if not rows:
        return None
    ids = [pk for pk, _, _ in rows]
    if archive is not None:
        archive.write_sagas(ids, using)
    _, deleted = Saga.objects.using(using).filter(pk__in=ids).delete()
    report.sagas += deleted.get(Saga._meta.label, 0)
    report.steps += deleted.get(SagaStep._meta.label, 0)
    report.by_state.update(state for _, _, state in rows)
    last_id, last_finished, _ = rows[-1]
    assert last_finished is not None  # selected by completed_at < cutoff
    return last_finished, last_id


# -- archives ---------------------------------------------------------------
def _fields(obj: Model) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


class Archive:
    """A new gzip file of JSON lines, one saga per line, each batch synced to disk."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # "x": an existing archive is never overwritten, and never appended
        # to (a file cut short by a crash could not be read past its end).
        self._raw: IO[bytes] = open(self.path, "xb")  # noqa: SIM115 - closed in close()
        self._gzip = gzip.GzipFile(fileobj=self._raw, mode="wb")
        self.sagas = 0

    def write_sagas(self, ids: Sequence[str], using: str = "default") -> None:
        """Write these sagas with their steps, and make them durable before returning."""
        steps: dict[str, list[dict[str, Any]]] = {}
        for step in (
            SagaStep.objects.using(using).filter(saga_id__in=ids).order_by("saga_id", "position")
        ):
            steps.setdefault(step.saga_id, []).append(_fields(step))
        trails: dict[str, list[dict[str, Any]]] = {}
        for entry in Intervention.objects.using(using).filter(saga_id__in=ids).order_by("id"):
            trails.setdefault(entry.saga_id, []).append(_fields(entry))
        archived_at = clock.now()
        for saga in Saga.objects.using(using).filter(pk__in=ids).order_by("completed_at", "pk"):
            line = {
                "format": ARCHIVE_FORMAT,
                "archived_at": archived_at,
                "saga": _fields(saga),
                "steps": steps.get(saga.pk, []),
                "interventions": trails.get(saga.pk, []),
            }
            self._gzip.write(json.dumps(line, cls=DjangoJSONEncoder).encode() + b"\n")
            self.sagas += 1
        self._gzip.flush(zlib.Z_SYNC_FLUSH)
        self._raw.flush()
        os.fsync(self._raw.fileno())

    def close(self) -> None:
        self._gzip.close()
        self._raw.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_archive(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The sagas an archive holds, as dicts: ``saga`` (its columns) and ``steps``.

    Times are ISO 8601 strings. A file cut short by a crash yields every line
    that was synced before it.
    """
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        try:
            for line in lines:
                if line.endswith("\n"):
                    yield json.loads(line)
        except EOFError:
            return
