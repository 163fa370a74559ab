"""Archives of purged sagas (django_saga/archive.py): what a line holds, and
that nothing is deleted that is not on disk first, whatever the disk does.
On both databases."""

from __future__ import annotations

import errno
import gzip
import json
import os
import re
import stat
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_saga.archive import ARCHIVE_FORMAT, Archive, read_archive
from django_saga.models import Saga, SagaStep, SagaTask, TaskOffer
from django_saga.retention import purge
from tests.unit.purging import DAY, finished, remaining, run

pytestmark = pytest.mark.django_db


def test_an_archive_holds_each_saga_with_its_steps_and_history_and_reads_back(tmp_path):
    old = finished("compensated", 40 * DAY, name="refund", steps=3)
    Saga.objects.filter(pk=old.pk).update(context={"customer": "c-9", "total": 12.5})
    steps = list(SagaStep.objects.filter(saga=old).order_by("position").values("id", "history"))
    path = tmp_path / "sagas.jsonl.gz"
    with Archive(path) as archive:
        report = purge(30 * DAY, archive=archive, batch_size=1)
    assert report.sagas == 1 and archive.sagas == 1
    (line,) = list(read_archive(path))
    assert line["format"] == ARCHIVE_FORMAT
    assert line["saga"]["id"] == old.pk and line["saga"]["name"] == "refund"
    assert line["saga"]["state"] == "compensated"
    assert line["saga"]["context"] == {"customer": "c-9", "total": 12.5}
    assert line["saga"]["completed_at"].startswith(str((timezone.now() - 40 * DAY).year))
    assert [s["id"] for s in line["steps"]] == [s["id"] for s in steps]
    assert [s["position"] for s in line["steps"]] == [0, 1, 2]
    assert line["steps"][0]["history"] == steps[0]["history"]
    assert line["steps"][0]["output"] == {"n": 0}
    assert not Saga.objects.filter(pk=old.pk).exists()


def test_an_archive_keeps_a_saga_s_tasks_who_was_asked_and_who_answered(tmp_path):
    old = finished("completed", 40 * DAY, name="refund", steps=2)
    step = SagaStep.objects.get(saga=old, position=0)
    task = SagaTask.objects.create(
        saga=old, step=step, attempt=1, title="Approve a refund", state="completed",
        shown={"Amount": "640.00"}, done_by="mia", done_at=timezone.now() - 40 * DAY,
    )  # fmt: skip
    TaskOffer.objects.create(task=task, kind="group", name="refund-managers", open=False)
    TaskOffer.objects.create(task=task, kind="group", name="shop-directors", open=False)
    path = tmp_path / "sagas.jsonl.gz"
    with Archive(path) as archive:
        purge(30 * DAY, archive=archive)
    (line,) = list(read_archive(path))
    (kept,) = line["tasks"]
    assert (kept["id"], kept["step_id"], kept["title"]) == (task.pk, step.pk, "Approve a refund")
    assert (kept["state"], kept["done_by"], kept["shown"]) == ("completed", "mia", task.shown)
    assert [o["name"] for o in kept["offers"]] == ["refund-managers", "shop-directors"]
    assert not SagaTask.objects.exists() and not TaskOffer.objects.exists()


def test_an_archive_cut_short_reads_back_every_line_synced_before(tmp_path):
    sagas = [finished("completed", 40 * DAY) for _ in range(3)]
    path = tmp_path / "cut.jsonl.gz"
    with Archive(path) as archive:
        archive.write_sagas([s.pk for s in sagas[:2]])
        synced = path.stat().st_size
        archive.write_sagas([sagas[2].pk])
    whole = path.read_bytes()
    # Plain gzip tools read every batch.
    assert len(gzip.decompress(whole).splitlines()) == 3
    # A crash while the last batch was written: half of it reached the disk.
    path.write_bytes(whole[: (synced + len(whole)) // 2])
    assert [line["saga"]["id"] for line in read_archive(path)] == [s.pk for s in sagas[:2]]


def test_an_existing_archive_is_never_overwritten(tmp_path):
    path = tmp_path / "kept.gz"
    path.write_bytes(gzip.compress(b"an auditor's file\n"))
    finished("completed", 40 * DAY)
    with pytest.raises(CommandError, match="exists: an archive is never overwritten"):
        call_command("saga_purge", "--older-than", "30d", "--archive", str(path))
    assert gzip.decompress(path.read_bytes()) == b"an auditor's file\n"
    assert Saga.objects.count() == 1


# -- what an archive promises -------------------------------------------------
@pytest.fixture
def permissive_umask():
    """A umask that lets every file be read and written by anyone."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_an_archive_is_its_owners_alone_from_the_moment_it_exists(
    tmp_path, permissive_umask, monkeypatch
):
    directory = tmp_path / "backups"
    directory.mkdir(mode=0o755)

    def chmod(*args, **kwargs):
        raise AssertionError("widened, then narrowed: readable by others in between")

    monkeypatch.setattr(os, "chmod", chmod)
    monkeypatch.setattr(os, "fchmod", chmod)
    finished("completed", 40 * DAY)
    path = directory / "sagas.jsonl.gz"
    run("--older-than", "30d", "--archive", str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The directory is the operator's to make private; the purge leaves it as it was.
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    assert len(list(read_archive(path))) == 1


def test_the_archives_name_is_on_disk_before_anything_is_deleted(tmp_path, monkeypatch):
    saga = finished("completed", 40 * DAY)
    path = tmp_path / "a.jsonl.gz"
    real_fsync = os.fsync
    # Per sync of the archive's directory: whether the file and the saga existed then.
    synced: list[tuple[bool, bool]] = []

    def fsync(fd: int) -> None:
        if os.fstat(fd).st_ino == tmp_path.stat().st_ino:
            synced.append((path.exists(), Saga.objects.filter(pk=saga.pk).exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    run("--older-than", "30d", "--archive", str(path))
    assert (True, True) in synced
    assert not Saga.objects.filter(pk=saga.pk).exists()


def disk_full_after_one_batch(monkeypatch: pytest.MonkeyPatch, path: Path, call: str) -> None:
    """``os.write`` or ``os.fsync`` of the archive fails with ENOSPC once a batch
    is in it (a write first gets half its bytes on disk, as a full disk allows)."""
    real = getattr(os, call)
    calls: list[int] = []

    def full(fd: int, *args):  # type: ignore[no-untyped-def]
        info = os.fstat(fd)
        if path.exists() and info.st_ino == path.stat().st_ino and info.st_size > 0:
            calls.append(fd)
            if call == "write" and len(calls) == 1:
                return real(fd, args[0][: len(args[0]) // 2])
            if len(calls) > (0 if call == "write" else 1):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, *args)

    monkeypatch.setattr(os, call, full)


@pytest.mark.parametrize("call", ["write", "fsync"])
def test_a_full_disk_deletes_nothing_it_could_not_archive_and_says_so(tmp_path, monkeypatch, call):
    sagas = [finished("completed", (40 - i) * DAY) for i in range(3)]
    path = tmp_path / "full.jsonl.gz"
    disk_full_after_one_batch(monkeypatch, path, call)
    with pytest.raises(CommandError) as refused:
        run("--older-than", "30d", "--batch-size", "1", "--archive", str(path))
    assert str(refused.value) == (
        f"Cannot write the archive {path}: No space left on device (ENOSPC). "
        "The sagas it was writing were not deleted; the 1 archived before them were "
        "purged, and the file holds them. Once that is fixed, run again with a new "
        "--archive file."
    )
    # The first batch was archived, then purged; the others are all still there.
    assert remaining() == {s.pk for s in sagas[1:]}
    assert SagaStep.objects.filter(saga__in=sagas[1:]).count() == 4
    monkeypatch.undo()
    # The failed batch was cut off again: the file ends with what was purged.
    lines = gzip.decompress(path.read_bytes()).splitlines()
    assert [json.loads(line)["saga"]["id"] for line in lines] == [sagas[0].pk]


def test_an_archive_that_cannot_be_created_is_refused_before_anything_is_deleted(tmp_path):
    finished("completed", 40 * DAY)
    path = tmp_path / "no-such-directory" / "a.jsonl.gz"
    message = f"Cannot create the archive {path}: No such file or directory (ENOENT). Nothing"
    with pytest.raises(CommandError, match=re.escape(message)):
        run("--older-than", "30d", "--archive", str(path))
    assert Saga.objects.count() == 1
