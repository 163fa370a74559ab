"""A schedule as JSON: the fields ``manage.py saga schedule list --json`` prints
and the JSON API's schedules start from, in one place so the two agree."""

from __future__ import annotations

from typing import Any

from ..models import Schedule
from .ticking import timing_of


def schedule_fields(schedule: Schedule) -> dict[str, Any]:
    """The schedule's row as its users read it, its timing also in words."""
    return {
        "name": schedule.name,
        "definition": schedule.definition,
        "when": timing_of(schedule).describe(),
        "cron": schedule.cron,
        "every": schedule.every,
        "timezone": schedule.timezone,
        "enabled": schedule.enabled,
        "source": schedule.source,
        "next_run_at": schedule.next_run_at,
        "last_run_at": schedule.last_run_at,
        "last_saga_id": schedule.last_saga_id,
        "skipped": schedule.skipped,
        "error": schedule.error,
    }
