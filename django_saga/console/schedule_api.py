"""The schedules' JSON endpoints: the list, one schedule, and pause, resume
and run now.

Each needs console access and ``django_saga.view_schedule``; an action also
needs its own permission (``pause_schedule`` to pause and resume,
``trigger_schedule`` to run now). An action takes ``{"reason": ...}`` and
answers with the schedule as it stands: 404 for an unknown schedule, 400 for
a body it cannot use or a missing reason, 409 with the manager's sentence
when the schedule's state does not allow it (``invalid_state_transition``)
or its saga cannot start (``cannot_start``), and 413 for a body over
Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``: the saga actions' rules, in the
same order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views import View

from .. import actions, clock
from ..errors import InvalidStateTransition, SagaDefinitionError, ScheduleNotFound, brief
from ..models import Schedule
from ..schedules.fields import schedule_fields
from .access import JsonAccessMixin, ScheduleGuard, json_error
from .json_api import BadBody, BodyTooLarge, json_body
from .schedules import latest_runs, latest_trail, saga_states, upcoming


def schedule_json(schedule: Schedule, last_state: str | None) -> dict[str, Any]:
    """A schedule in the API's list: ``manage.py saga schedule list --json``'s
    fields, the last run's saga's state, and the schedule's own URL."""
    return {
        **schedule_fields(schedule),
        "last_saga_state": last_state,
        "url": reverse("django_saga:api-schedule", args=[schedule.name]),
    }


def schedule_list_json(schedules: Iterable[Schedule]) -> list[dict[str, Any]]:
    schedules = list(schedules)
    states = saga_states(schedule.last_saga_id for schedule in schedules)
    return [schedule_json(schedule, states.get(schedule.last_saga_id)) for schedule in schedules]


def schedule_document(schedule: Schedule, now: datetime) -> dict[str, Any]:
    """One schedule: its fields, its policies, its next ticks, its latest runs
    (newest first) and its trail (oldest first)."""
    last_state = saga_states([schedule.last_saga_id]).get(schedule.last_saga_id)
    trail, _ = latest_trail(schedule)
    return {
        **schedule_json(schedule, last_state),
        "missed": schedule.missed,
        "missed_limit": schedule.missed_limit,
        "overlap": schedule.overlap,
        "priority": schedule.priority or None,
        "starts_at": schedule.starts_at,
        "ends_at": schedule.ends_at,
        "upcoming": upcoming(schedule, now),
        "runs": [
            {
                "tick": row.run.tick,
                "started_at": row.run.started_at,
                "by": row.run.by,
                "saga_id": row.run.saga_id,
                "saga_state": row.saga_state,
                "url": reverse("django_saga:api-detail", args=[row.run.saga_id]),
            }
            for row in latest_runs(schedule)
        ],
        "interventions": [
            {
                "at": entry.at,
                "by": entry.actor,
                "action": entry.action,
                "reason": entry.reason,
                "details": entry.details,
            }
            for entry in trail
        ],
    }


def _unknown(name: str) -> JsonResponse:
    return json_error(404, "not_found", f"No schedule {brief(name)}.")


class ScheduleListJsonView(ScheduleGuard, JsonAccessMixin, View):
    """GET: every schedule, by name, with its next run and its last run's outcome."""

    def get(self, request: HttpRequest) -> HttpResponse:
        schedules = list(Schedule.objects.order_by("name"))
        return JsonResponse({"count": len(schedules), "results": schedule_list_json(schedules)})


class ScheduleJsonView(ScheduleGuard, JsonAccessMixin, View):
    """GET: one schedule, its next ticks, its latest runs and its trail."""

    def get(self, request: HttpRequest, name: str) -> HttpResponse:
        schedule = Schedule.objects.filter(name=name).first()
        if schedule is None:
            return _unknown(name)
        return JsonResponse(schedule_document(schedule, clock.now()))


class ScheduleActJsonView(ScheduleGuard, JsonAccessMixin, View):
    """POST ``{"reason": ...}``: pause, resume or run the schedule now (``act``)."""

    def post(self, request: HttpRequest, name: str) -> HttpResponse:
        act = self.act
        assert act is not None
        if not Schedule.objects.filter(name=name).exists():
            return _unknown(name)
        try:
            body = json_body(request, ("reason",))
            reason = actions.reason_text(body.get("reason"), required=True)
        except BodyTooLarge as exc:
            return json_error(413, "too_large", str(exc))
        except (BadBody, SagaDefinitionError) as exc:
            return json_error(400, "bad_request", str(exc))
        try:
            act.run(name, by=request.user, reason=reason)
        except ScheduleNotFound:
            return _unknown(name)
        except InvalidStateTransition as exc:
            return json_error(409, "invalid_state_transition", str(exc), enabled=_enabled(name))
        except SagaDefinitionError as exc:  # run now: the definition or its start refused
            return json_error(409, "cannot_start", str(exc), enabled=_enabled(name))
        schedule = Schedule.objects.filter(name=name).first()
        if schedule is None:  # deleted the moment after
            return _unknown(name)
        return JsonResponse(schedule_document(schedule, clock.now()), status=act.status)


def _enabled(name: str) -> bool | None:
    """Whether the schedule is enabled now, as a refusal reports it."""
    return Schedule.objects.filter(name=name).values_list("enabled", flat=True).first()
