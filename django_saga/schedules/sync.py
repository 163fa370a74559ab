"""Make the rows of the schedules declared in code, when an engine starts.

A declared schedule's row takes the declaration's fields; its next run is
worked out again only when its timing changed, and an operator's pause
holds across deploys. A row declared in code that no declaration names any
more is deleted (its runs' sagas stay). Schedules made by operators are
left alone, unless code now declares one of their names: code then owns it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from .. import clock
from ..models import Schedule, Source
from .declaration import ScheduleDeclaration, declared_schedules
from .ticking import timing_of

logger = logging.getLogger("django_saga.schedules")

#: The fields that decide when a schedule ticks: a change makes its next run anew.
TIMING_FIELDS = ("cron", "every", "timezone", "starts_at", "ends_at")


@dataclass
class SyncReport:
    created: list[str]
    updated: list[str]
    deleted: list[str]


def sync(using: str, declared: Sequence[ScheduleDeclaration] | None = None) -> SyncReport:
    """Bring the rows of code's schedules in line with ``declared`` (by default
    what the apps' ``sagas.py`` modules declare); what changed."""
    if declared is None:
        declared = declared_schedules()
    report = SyncReport([], [], [])
    for attempt in range(3):
        try:
            with transaction.atomic(using=using):
                _sync(using, declared, report)
            return report
        except IntegrityError:
            # Another engine made one of the rows at the same moment: look again.
            report = SyncReport([], [], [])
            if attempt == 2:
                raise
    return report


def create(using: str, declaration: ScheduleDeclaration) -> Schedule:
    """The row of a schedule declared in code, due at its first tick from now."""
    now = clock.now()
    row = Schedule(
        name=declaration.name, source=Source.CODE, created_at=now, **declaration.row_fields()
    )
    row.next_run_at = timing_of(row).first_from(now)
    row.save(using=using, force_insert=True)
    return row


def _sync(using: str, declared: Sequence[ScheduleDeclaration], report: SyncReport) -> None:
    now = clock.now()
    names = [d.name for d in declared]
    rows = {
        row.name: row
        for row in Schedule.objects.using(using)
        .select_for_update()
        .filter(name__in=names)
        .order_by("name")
    }
    for declaration in declared:
        fields = declaration.row_fields()
        row = rows.get(declaration.name)
        if row is None:
            report.created.append(create(using, declaration).name)
            continue
        changed = [name for name, value in fields.items() if getattr(row, name) != value]
        if not changed and row.source == Source.CODE:
            continue
        for name, value in fields.items():
            setattr(row, name, value)
        if row.source != Source.CODE:
            logger.warning("Schedule %s, made by an operator, is now declared in code", row.name)
            row.source = Source.CODE
        if set(changed) & set(TIMING_FIELDS):
            row.next_run_at = timing_of(row).first_from(now)
        row.save(using=using)
        report.updated.append(row.name)
    gone = Schedule.objects.using(using).filter(source=Source.CODE).exclude(name__in=names)
    report.deleted = sorted(gone.values_list("name", flat=True))
    if report.deleted:
        gone.delete()
        logger.warning(
            "Deleted schedule(s) no longer declared in code: %s", ", ".join(report.deleted)
        )
