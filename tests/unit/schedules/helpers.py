"""Schedules for the tests: declared as code would, made into rows by ``sync``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django_saga import schedule
from django_saga.models import Saga, Schedule
from django_saga.schedules.sync import create

REPORT = "tests.testapp.sagas.Report"
#: When the schedule tests' clock starts.
START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def make(name: str = "report", *, using: str = "default", **options: Any) -> Schedule:
    """A schedule of the test app's ``Report`` saga, its row made now (the kit's clock)."""
    options.setdefault("cron", "" if "every" in options else "0 * * * *")
    return create(using, schedule(name, REPORT, **options))


def runs(name: str = "report") -> list[str]:
    """The keys of the sagas the schedule started, oldest first."""
    return list(
        Saga.objects.filter(key__startswith=f"{name}@").order_by("pk").values_list("key", flat=True)
    )
