"""``manage.py saga_purge``: delete finished sagas, in small batches, optionally archived."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from django_saga import validation
from django_saga.archive import Archive, ArchiveError
from django_saga.conf import saga_settings
from django_saga.errors import SagaDefinitionError
from django_saga.models import TERMINAL_STATES
from django_saga.retention import (
    DEFAULT_BATCH,
    MAX_BATCH,
    PurgeReport,
    RetentionError,
    purge,
)


def parse_age(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``12h``, ``30d`` or ``2w``."""
    try:
        return validation.age(text, "--older-than")
    except SagaDefinitionError as exc:
        raise CommandError(str(exc)) from None


class Command(BaseCommand):
    help = (
        "Delete completed and compensated sagas that finished before a cutoff, in small "
        "batches (failed, halted and compensation_failed sagas are never purged)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            help="Age, e.g. 30d, 12h, 15m or 3600 (seconds). Default: SAGA HISTORY_RETENTION.",
        )
        parser.add_argument(
            "--state",
            action="append",
            choices=list(TERMINAL_STATES),
            help="Only sagas in this state (repeat for both). Default: completed and compensated.",
        )
        parser.add_argument(
            "--name", action="append", help="Only sagas of this name (repeat for more)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; delete nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH,
            help=f"Sagas per transaction, 1 to {MAX_BATCH} (default {DEFAULT_BATCH}).",
        )
        parser.add_argument(
            "--archive",
            metavar="FILE",
            help="First write each saga, its steps and their history as a JSON line to "
            "this new gzip file, readable by its owner alone (read it back with "
            "django_saga.archive.read_archive).",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] is not None:
            older_than = parse_age(options["older_than"])
        elif saga_settings.HISTORY_RETENTION is None:
            raise CommandError(
                "SAGA HISTORY_RETENTION is None (keep everything): pass --older-than "
                "to purge anyway"
            )
        else:
            older_than = timedelta(seconds=saga_settings.HISTORY_RETENTION)
        if options["archive"] and options["dry_run"]:
            raise CommandError("--archive and --dry-run together would archive nothing")
        archive = None
        if options["archive"]:
            try:
                archive = Archive(options["archive"])
            except FileExistsError:
                raise CommandError(
                    f"{options['archive']} exists: an archive is never overwritten"
                ) from None
            except ArchiveError as exc:
                raise CommandError(f"{_sentence(exc)} Nothing was purged.") from exc
        tty = self.stdout.isatty()
        try:
            report = purge(
                older_than,
                states=options["state"] or TERMINAL_STATES,
                names=options["name"] or (),
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
                archive=archive,
                using=options["database"],
                on_batch=self._progress if tty else None,
            )
        except RetentionError as exc:
            raise CommandError(str(exc)) from exc
        except ArchiveError as exc:
            assert archive is not None
            raise CommandError(
                f"{_sentence(exc)} The sagas it was writing were not deleted"
                + (
                    f"; the {archive.sagas:,} archived before them were purged, and the "
                    "file holds them"
                    if archive.sagas
                    else ": nothing was purged"
                )
                + ". Once that is fixed, run again with a new --archive file."
            ) from exc
        finally:
            if archive is not None:
                archive.close()
        if tty and report.batches:
            self.stdout.write("")
        self.stdout.write(self._summary(report, older_than, archive))

    def _progress(self, report: PurgeReport) -> None:
        rate = report.sagas / report.seconds if report.seconds else 0.0
        self.stdout.write(
            f"\rPurged {report.sagas:,} sagas in {report.batches:,} batches ({rate:,.0f}/s)",
            ending="",
        )
        self.stdout.flush()

    def _summary(self, report: PurgeReport, older_than: timedelta, archive: Any) -> str:
        states = ", ".join(
            f"{report.by_state[state]:,} {state}"
            for state in TERMINAL_STATES
            if report.by_state[state]
        )
        verb = "Would purge" if report.dry_run else "Purged"
        text = (
            f"{verb} {report.sagas:,} sagas ({report.steps:,} steps) that finished more than "
            f"{_age(older_than)} ago"
        )
        if states:
            text += f": {states}"
        if not report.dry_run:
            text += f". {report.batches:,} batches in {report.seconds:.1f} s"
        if archive is not None:
            text += f". Archived {archive.sagas:,} sagas to {archive.path}"
        if report.trail:
            text += (
                f". {'Would delete' if report.dry_run else 'Deleted'} {report.trail:,} "
                "entries of the operators' trail past AUDIT_RETENTION whose sagas are gone"
            )
        if report.runs:
            text += (
                f". {'Would delete' if report.dry_run else 'Deleted'} {report.runs:,} "
                "schedule runs as old whose sagas are gone"
            )
        return text + "."


def _sentence(error: ArchiveError) -> str:
    text = str(error)
    return text[:1].upper() + text[1:] + "."


def _age(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
