"""Archives of purged sagas: gzip files of JSON lines, one saga per line.

Each line holds a saga with its steps, their attempt history and the
operators' trail; ``read_archive`` reads them back. It holds what the sagas
held (contexts, inputs, outputs), so a file is created readable and writable
by its owner alone. Each batch is one gzip member, written and synced to disk
before the purge's delete commits, so a crash between the two leaves the
sagas both archived and still in the database: the next run archives them
again, and readers keep the last line per saga id. A batch whose write fails
(a full disk) is cut off the file again: the file ends with the last batch
that was purged.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import json
import os
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model

from . import clock
from .models import Intervention, Saga, SagaStep, SagaTask, TaskOffer

#: What an archive's lines say they are.
ARCHIVE_FORMAT = "django-saga-archive/1"
#: An archive's permissions: its owner's alone, from the moment it exists.
ARCHIVE_MODE = 0o600


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


def _fields(obj: Model) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _tasks_of(ids: Sequence[str], using: str) -> dict[str, list[dict[str, Any]]]:
    """The sagas' tasks, oldest first, each with whom it was offered to
    (``offers``): who was asked, who answered, and when."""
    offers: dict[str, list[dict[str, Any]]] = {}
    for offer in TaskOffer.objects.using(using).filter(task__saga_id__in=ids).order_by("id"):
        offers.setdefault(offer.task_id, []).append(_fields(offer))
    tasks: dict[str, list[dict[str, Any]]] = {}
    for task in SagaTask.objects.using(using).filter(saga_id__in=ids).order_by("id"):
        tasks.setdefault(task.saga_id, []).append(
            {**_fields(task), "offers": offers.get(task.pk, [])}
        )
    return tasks


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
        tasks = _tasks_of(ids, using)
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
                "tasks": tasks.get(saga.pk, []),
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
