"""The schedules' endpoints and schemas: the list, one schedule, and an
operator's actions on one, made from the actions' table
(``django_saga.console.schedules.SCHEDULE_ACTS``)."""

from __future__ import annotations

from typing import Any

from ...models import SCHEDULE_NAME_MAX_CHARS, Missed, Overlap, Source
from ...models.saga import PRIORITIES
from ..schedules import (
    RUN_ACT,
    RUNS_SHOWN,
    SCHEDULE_ACTS,
    TRAIL_SHOWN,
    UPCOMING,
    VIEW_SCHEDULE,
    ScheduleAct,
)
from .blocks import (
    READ_SECURITY,
    WHEN,
    WHEN_OR_NULL,
    WRITE_SECURITY,
    closed,
    json_content,
    not_found,
    read_refusals,
    refusal,
    schema_ref,
    text_schema,
    write_refusals,
)

NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The schedule's name (a slug, as the list gives it).",
    "schema": text_schema(SCHEDULE_NAME_MAX_CHARS, min_chars=1, pattern="^[-a-zA-Z0-9_]+$"),
}
#: A saga's state, or null for a saga purged since (or no run yet).
SAGA_STATE_OR_NULL = {"anyOf": [schema_ref("SagaState"), {"type": "null"}]}


def act_path(act: ScheduleAct) -> str:
    return f"/api/schedules/{{name}}/{act.slug}/"


def schedule_paths() -> dict[str, Any]:
    return {
        "/api/schedules/": {"get": _list()},
        "/api/schedules/{name}/": {"parameters": [NAME], "get": _get()},
        **{act_path(act): {"parameters": [NAME], "post": _act(act)} for act in SCHEDULE_ACTS},
    }


def _list() -> dict[str, Any]:
    return {
        "operationId": "listSchedules",
        "tags": ["schedules"],
        "summary": "List schedules, by name, with their next run and last run's outcome",
        "description": f"Every schedule, unpaged. Needs `{VIEW_SCHEDULE}` beside console access.",
        "security": READ_SECURITY,
        "responses": {
            "200": {
                "description": "The schedules.",
                "content": json_content(schema_ref("ScheduleList")),
            },
            **read_refusals(),
        },
    }


def _get() -> dict[str, Any]:
    return {
        "operationId": "getSchedule",
        "tags": ["schedules"],
        "summary": "One schedule: its next ticks, its latest runs and its trail",
        "description": f"Needs `{VIEW_SCHEDULE}` beside console access.",
        "security": READ_SECURITY,
        "responses": {
            "200": {
                "description": "The schedule.",
                "content": json_content(schema_ref("ScheduleStatus")),
            },
            "404": not_found("No schedule has this name"),
            **read_refusals(),
        },
    }


def _act(act: ScheduleAct) -> dict[str, Any]:
    codes = (
        ("invalid_state_transition", "cannot_start")
        if act is RUN_ACT
        else ("invalid_state_transition",)
    )
    conflict = (
        "`cannot_start`: the schedule's saga cannot start (its definition does not load "
        "with its parameters, or refuses them); `message` says why."
        if "cannot_start" in codes
        else "`invalid_state_transition`: the schedule's state does not allow it "
        "(paused already, or not paused); `message` is the manager's sentence."
    )
    done = (
        "Accepted: the saga has started and the engine carries it on. The schedule as it "
        "stands, the new run first among its runs."
        if act.status == 202
        else "Done: the schedule as it stands, this action last on its trail."
    )
    return {
        "operationId": act.api_id,
        "tags": ["schedules"],
        "summary": act.api_summary,
        "description": f"{act.explanation} Needs `{VIEW_SCHEDULE}` and `{act.permission}`. "
        "Recorded on the schedule's trail with the user and the reason. The checks run in "
        "this order: the schedule exists (`404`), the body and the reason (`400`), the "
        "schedule's state (`409`).",
        "security": WRITE_SECURITY,
        "requestBody": {
            "required": True,
            "description": "A JSON object, read as JSON whatever the Content-Type; an empty "
            "body is an empty object (so it lacks the required reason). A form body is "
            "refused (`400`).",
            "content": json_content(schema_ref("ReasonBody")),
        },
        "responses": {
            str(act.status): {
                "description": done,
                "content": json_content(schema_ref("ScheduleStatus")),
            },
            "404": not_found("No schedule has this name"),
            "409": refusal(
                f"{conflict} `enabled` says whether the schedule is enabled now.",
                codes,
                enabled={"type": ["boolean", "null"]},
            ),
            **write_refusals(),
        },
    }


#: ``schedule_api.schedule_json``'s fields.
SCHEDULE_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string"},
    "definition": {"type": "string", "description": "The SagaDefinition each run starts."},
    "when": {"type": "string", "description": "In words: `At 02:00 every day, Europe/Berlin`."},
    "cron": {"type": "string", "description": "Empty for an interval."},
    "every": {"type": ["integer", "null"], "description": "Seconds; null for a cron."},
    "timezone": {"type": "string"},
    "enabled": {"type": "boolean", "description": "False while paused."},
    "source": {"enum": list(Source.values)},
    "next_run_at": {**WHEN_OR_NULL, "description": "Null once it has ended."},
    "last_run_at": WHEN_OR_NULL,
    "last_saga_id": {"type": "string", "description": "Empty before its first run."},
    "last_saga_state": {**SAGA_STATE_OR_NULL, "description": "How the last run's saga stands."},
    "skipped": {"type": "integer", "minimum": 0, "description": "Ticks skipped in all."},
    "error": {"type": "string", "description": "Why its last tick failed, if it did."},
    "url": {"type": "string", "description": "The schedule's status (a path)."},
}


def schedule_schemas() -> dict[str, Any]:
    run = closed(
        {
            "tick": {**WHEN, "description": "When it was due (now, for a run now)."},
            "started_at": WHEN,
            "by": {"type": "string", "description": "Who ran it now; empty for a tick."},
            "saga_id": {"type": "string"},
            "saga_state": SAGA_STATE_OR_NULL,
            "url": {"type": "string", "description": "The saga's status (a path)."},
        },
        "A saga the schedule started.",
    )
    entry = closed(
        {
            "at": WHEN,
            "by": {"type": "string"},
            "action": {"enum": [act.trail for act in SCHEDULE_ACTS]},
            "reason": {"type": "string"},
            "details": {
                "type": "object",
                "description": "A resume's `next_run_at`; a run now's `saga`.",
            },
        },
        "One operator action on the schedule's trail.",
    )
    return {
        "ScheduleSummary": closed(SCHEDULE_PROPERTIES, "A schedule in the list."),
        "ScheduleList": closed(
            {
                "count": {"type": "integer", "minimum": 0},
                "results": {"type": "array", "items": schema_ref("ScheduleSummary")},
            },
            "Every schedule, by name.",
        ),
        "ScheduleStatus": closed(
            {
                **SCHEDULE_PROPERTIES,
                "missed": {"enum": list(Missed.values)},
                "missed_limit": {"type": "integer", "minimum": 0},
                "overlap": {"enum": list(Overlap.values)},
                "priority": {
                    "enum": [*PRIORITIES, None],
                    "description": "Its sagas' priority; null: the definition's own.",
                },
                "starts_at": WHEN_OR_NULL,
                "ends_at": WHEN_OR_NULL,
                "upcoming": {
                    "type": "array",
                    "maxItems": UPCOMING,
                    "items": WHEN,
                    "description": "Its next ticks; once resumed, for a paused one.",
                },
                "runs": {
                    "type": "array",
                    "maxItems": RUNS_SHOWN,
                    "items": run,
                    "description": "The latest runs, newest first.",
                },
                "interventions": {
                    "type": "array",
                    "maxItems": TRAIL_SHOWN,
                    "items": entry,
                    "description": "The latest operator actions, oldest first.",
                },
            },
            "One schedule.",
        ),
    }
