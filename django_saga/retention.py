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
archive, and deletes the sagas with their steps and outbox rows.

An archive is a gzip file of JSON lines, one saga per line with its steps,
their attempt history and the operators' trail; ``read_archive`` reads it
back. It holds what the sagas held (contexts, inputs, outputs), so it is
created readable and writable by its owner alone. Each batch is one gzip
member, written and synced to disk before its delete commits, so a crash
between the two leaves the sagas both archived and still in the database: the
next run archives them again. Readers should keep the last line per saga id.
A batch whose write fails (a full disk) is cut off the file again and its
delete rolled back: the file ends with the last batch that was purged.
"""

from __future__ import annotations

import contextlib
import errno
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
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction
from django.db.models import Count, Exists, Model, OuterRef, Q, QuerySet

from . import clock
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
#: What an archive's lines say they are.
ARCHIVE_FORMAT = "django-saga-archive/1"
#: An archive's permissions: its owner's alone, from the moment it exists.
ARCHIVE_MODE = 0o600


class RetentionError(ValueError):
    """A purge asked for something retention never does."""


class ArchiveError(Exception):
    """An archive could not be created or written to disk.

    Raised before the delete of the batch in hand, which is rolled back with
    it: every saga still in the database when it is raised is in the database
    still. ``error`` is the operating system's error.
    """

    def __init__(self, path: Path, doing: str, error: OSError) -> None:
        self.path = path
        self.error = error
        reason = error.strerror or str(error)
        code = errno.errorcode.get(error.errno) if error.errno is not None else None
        super().__init__(
            f"cannot {doing} the archive {path}: {reason}" + (f" ({code})" if code else "")
        )


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


# -- archives ---------------------------------------------------------------
def _fields(obj: Model) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


class Archive:
    """A new gzip file of JSON lines, one saga per line, each batch synced to disk.

    The file is created with mode 0600 (whatever the umask allows of it), and
    its name is synced into the directory before any saga is deleted. Errors
    of the operating system come out as ``ArchiveError``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: Sagas written and synced so far.
        self.sagas = 0
        # The file's size after the last synced batch: a failed write is cut back to it.
        self._synced = 0
        self._broken: ArchiveError | None = None
        # O_EXCL: an existing archive is never overwritten, nor appended to.
        # The mode is given at creation: there is no moment at which the file
        # exists with wider permissions than its owner's.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        flags |= getattr(os, "O_BINARY", 0)
        try:
            self._fd: int | None = os.open(self.path, flags, ARCHIVE_MODE)
        except FileExistsError:
            raise
        except OSError as exc:
            raise ArchiveError(self.path, "create", exc) from exc
        try:
            os.fsync(self._fd)
            _sync_directory(self.path.parent)
        except OSError as exc:
            # Nothing is in it yet: leave no empty file that a retry would refuse.
            self.close()
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            raise ArchiveError(self.path, "create", exc) from exc

    def write_sagas(self, ids: Sequence[str], using: str = "default") -> None:
        """Write these sagas with their steps, and make them durable before returning.

        Raises ``ArchiveError`` if they could not be: the file is then cut
        back to the batches synced before.
        """
        if self._broken is not None:
            raise self._broken
        if self._fd is None:
            raise ValueError(f"the archive {self.path} is closed")
        steps: dict[str, list[dict[str, Any]]] = {}
        for step in (
            SagaStep.objects.using(using).filter(saga_id__in=ids).order_by("saga_id", "position")
        ):
            steps.setdefault(step.saga_id, []).append(_fields(step))
        trails: dict[str, list[dict[str, Any]]] = {}
        for entry in Intervention.objects.using(using).filter(saga_id__in=ids).order_by("id"):
            trails.setdefault(entry.saga_id, []).append(_fields(entry))
        archived_at = clock.now()
        # One gzip member per batch (wbits 31: gzip's header and trailer):
        # readers, zcat included, read the members one after another.
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        chunks: list[bytes] = []
        written = 0
        for saga in Saga.objects.using(using).filter(pk__in=ids).order_by("completed_at", "pk"):
            line = {
                "format": ARCHIVE_FORMAT,
                "archived_at": archived_at,
                "saga": _fields(saga),
                "steps": steps.get(saga.pk, []),
                "interventions": trails.get(saga.pk, []),
            }
            chunks.append(
                compressor.compress(json.dumps(line, cls=DjangoJSONEncoder).encode() + b"\n")
            )
            written += 1
        if not written:
            return
        chunks.append(compressor.flush())
        data = b"".join(chunks)
        try:
            _write_all(self._fd, data)
            os.fsync(self._fd)
        except OSError as exc:
            failure = ArchiveError(self.path, "write", exc)
            try:
                os.ftruncate(self._fd, self._synced)
            except OSError:
                # What follows the last good batch cannot be taken back: a
                # batch written after it could not be read.
                self._broken = failure
            raise failure from exc
        self._synced += len(data)
        self.sagas += written

    def close(self) -> None:
        """Close the file; every batch written is already on disk."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _sync_directory(directory: Path) -> None:
    """Make a new file's name in ``directory`` durable (POSIX; elsewhere a no-op)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # A file system that cannot sync a directory (some network ones) says EINVAL.
        if exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def read_archive(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The sagas an archive holds, as dicts: ``saga`` (its columns) and ``steps``.

    Times are ISO 8601 strings. A file cut short by a crash yields every line
    that was synced before it (and the complete lines written after it).
    """
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        try:
            for line in lines:
                if line.endswith("\n"):
                    yield json.loads(line)
        except EOFError:
            return
