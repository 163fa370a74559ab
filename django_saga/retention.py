"""Retention: finished sagas are deleted, oldest first, in small batches.

Only ``completed`` and ``compensated`` sagas are ever purged; a ``failed``
or ``compensation_failed`` saga still has something for an operator to do.
The operators' trail outlives its sagas: an entry goes once it is older
than ``AUDIT_RETENTION`` and its saga is gone (a schedule's trail, once it
is older). A schedule's run rows go with the same age as the sagas, once
their saga is gone.
Each batch is one short transaction: it locks the rows it takes with
``SKIP LOCKED`` (on PostgreSQL), so several engines or a cron job can purge
side by side and nobody waits on them, optionally writes each saga to an
archive (see ``archive``: written and synced before the delete commits, and
cut back with the delete's rollback when the write fails), and deletes the
sagas with their steps and outbox rows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from . import clock
from .archive import Archive
from .conf import saga_settings
from .models import (
    TERMINAL_STATES,
    Intervention,
    Saga,
    SagaStep,
    ScheduleIntervention,
    ScheduleRun,
)

#: Sagas one batch deletes unless told otherwise: a transaction of tens of milliseconds.
DEFAULT_BATCH = 500
#: The most one batch may hold: a larger one would hold its locks too long.
MAX_BATCH = 10_000


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
    #: Entries of the operators' trail past ``AUDIT_RETENTION`` whose saga is gone
    #: (and of the schedules' trail past it).
    trail: int = 0
    #: Schedule runs older than the purge's age whose saga is gone.
    runs: int = 0


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
    if budget is None or time.monotonic() - started < budget:
        report.trail = purge_trail(using=using, batch_size=batch_size, dry_run=dry_run)
        report.runs = purge_runs(older_than, using=using, batch_size=batch_size, dry_run=dry_run)
    report.seconds = time.monotonic() - started
    return report


def purge_trail(
    *, using: str = "default", batch_size: int = DEFAULT_BATCH, dry_run: bool = False
) -> int:
    """Delete the trail's entries older than ``AUDIT_RETENTION`` whose saga is
    gone, oldest first, a batch per transaction; how many (would be) deleted."""
    keep = saga_settings.AUDIT_RETENTION
    if keep is None:
        return 0
    cutoff = clock.now() - timedelta(seconds=keep)
    orphaned = (
        Intervention.objects.using(using)
        .filter(at__lt=cutoff)
        .filter(~Exists(Saga.objects.using(using).filter(pk=OuterRef("saga_id"))))
    )
    schedules = ScheduleIntervention.objects.using(using).filter(at__lt=cutoff)
    return _delete_in_batches(orphaned, "at", batch_size, dry_run, using) + _delete_in_batches(
        schedules, "at", batch_size, dry_run, using
    )


def purge_runs(
    older_than: float | timedelta,
    *,
    using: str = "default",
    batch_size: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> int:
    """Delete the schedule runs started more than ``older_than`` ago whose saga
    is gone, oldest first; how many (would be) deleted. A schedule moves on
    by its own row: an old run row only tells what ran."""
    age = older_than if isinstance(older_than, timedelta) else timedelta(seconds=older_than)
    gone = (
        ScheduleRun.objects.using(using)
        .filter(started_at__lt=clock.now() - age)
        .filter(~Exists(Saga.objects.using(using).filter(pk=OuterRef("saga_id"))))
    )
    return _delete_in_batches(gone, "started_at", batch_size, dry_run, using)


def _delete_in_batches(
    rows: QuerySet[Any], oldest: str, batch_size: int, dry_run: bool, using: str
) -> int:
    """Delete ``rows``, oldest by ``oldest`` first, a batch per transaction."""
    if dry_run:
        return rows.count()
    deleted = 0
    while True:
        with transaction.atomic(using=using):
            ids = list(rows.order_by(oldest).values_list("pk", flat=True)[:batch_size])
            if ids:
                deleted += rows.model.objects.using(using).filter(pk__in=ids).delete()[0]
        if len(ids) < batch_size:
            return deleted


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
