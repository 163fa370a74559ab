"""Flow control's endpoints and schemas: the limited actions and the pauses
in force, and pausing or resuming actions and saga names."""

from __future__ import annotations

from typing import Any

from ...actions.pauses import PAUSE_PERMISSION
from ...limits import MAX_CONCURRENCY, PER_KEY
from ...models import Scope
from ...validation import NAME_MAX_CHARS
from .blocks import (
    LABEL_PATTERN,
    READ_SECURITY,
    REASON,
    WHEN,
    WHEN_OR_NULL,
    WRITE_SECURITY,
    closed,
    json_content,
    read_refusals,
    refusal,
    schema_ref,
    text_schema,
    write_refusals,
)

PATTERN = text_schema(
    NAME_MAX_CHARS,
    min_chars=1,
    pattern=LABEL_PATTERN,
    description="An action or a saga name; * matches any characters. No control "
    "characters or bidirectional controls, and not blank.",
)


def flow_paths() -> dict[str, Any]:
    return {
        "/api/flow/": {"get": _get()},
        "/api/flow/pause/": {"post": _act("pause")},
        "/api/flow/resume/": {"post": _act("resume")},
    }


def _get() -> dict[str, Any]:
    return {
        "operationId": "getFlow",
        "tags": ["flow"],
        "summary": "The limited actions, what runs and waits for each, and the pauses in force",
        "description": "Each action whose handler declares `concurrency` or `rate` in the "
        "process that answers, and the pauses of actions and saga names in force, newest "
        "first. Needs console access.",
        "security": READ_SECURITY,
        "responses": {
            "200": {"description": "The flow.", "content": json_content(schema_ref("Flow"))},
            **read_refusals(),
        },
    }


def _act(act: str) -> dict[str, Any]:
    pausing = act == "pause"
    return {
        "operationId": "pauseFlow" if pausing else "resumeFlow",
        "tags": ["flow"],
        "summary": "Pause every run of some actions, or every saga of some names"
        if pausing
        else "End a pause of actions or saga names",
        "description": (
            "Nothing that matches runs until resumed: handlers under way finish, messages "
            "wait with their attempts' clocks stopped."
            if pausing
            else "What the pause held is sent again by the engines' sweepers, through each "
            "action's limits."
        )
        + f" Needs `{PAUSE_PERMISSION}` beside console access. The pause row is its own "
        "trail: who, when and why.",
        "security": WRITE_SECURITY,
        "requestBody": {
            "required": True,
            "description": "A JSON object with `action` or `name` (not both) and a reason.",
            "content": json_content(schema_ref("PauseBody")),
        },
        "responses": {
            "201" if pausing else "200": {
                "description": "Done: the pause.",
                "content": json_content(schema_ref("Pause")),
            },
            "409": refusal(
                "`invalid_state_transition`: it is paused already, or not paused; `message` "
                "is the manager's sentence.",
                ("invalid_state_transition",),
            ),
            **write_refusals(),
        },
    }


def flow_schemas() -> dict[str, Any]:
    limit = closed(
        {
            "kind": {"enum": ["execute", "compensate"]},
            "action": {"type": "string"},
            "concurrency": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_CONCURRENCY,
                "description": "Runs at once; null for a rate alone.",
            },
            "per": {"enum": [PER_KEY, None], "description": "`key`: the limit holds per saga key."},
            "rate": {"type": ["string", "null"], "description": "`50/s`, `300/m`, `1000/h`."},
            "running": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "Runs under way now (null per key, or without PostgreSQL).",
            },
            "runs_per_second": {
                "type": "number",
                "minimum": 0,
                "description": "Runs started in every engine over the last minute, a second.",
            },
            "waiting": {"type": "integer", "minimum": 0, "description": "Waiting for a slot."},
            "paused": {"type": "integer", "minimum": 0, "description": "Held by a pause."},
        },
        "A limited action.",
    )
    return {
        "Pause": closed(
            {
                "id": {"type": "integer"},
                "scope": {"enum": list(Scope.values)},
                "pattern": {"type": "string"},
                "reason": {"type": "string"},
                "paused_by": {"type": "string"},
                "paused_at": WHEN,
                "resumed_by": {"type": "string"},
                "resumed_at": {**WHEN_OR_NULL, "description": "Null while in force."},
                "resume_reason": {"type": "string"},
            },
            "A pause of actions or saga names.",
        ),
        "PauseBody": {
            "type": "object",
            "additionalProperties": False,
            "required": ["reason"],
            "properties": {"action": PATTERN, "name": PATTERN, "reason": REASON},
            # One of the two: what is paused.
            "oneOf": [{"required": ["action"]}, {"required": ["name"]}],
        },
        "Flow": closed(
            {
                "limits": {"type": "array", "items": limit},
                "pauses": {"type": "array", "items": schema_ref("Pause")},
            },
            "The limited actions and the pauses in force.",
        ),
    }
