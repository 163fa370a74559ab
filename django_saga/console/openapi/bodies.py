"""The request bodies of the re-drive and the webhook."""

from __future__ import annotations

from typing import Any

from ... import clock, validation
from ...actions import ACTIONS, MAX_RATE, MIN_RATE
from ...models import KEY_MAX_CHARS, SAGA_ID_MAX_CHARS, WAITING_FOR_OPERATOR
from ..queries import REDRIVE_AT_ONCE
from .blocks import LABEL_PATTERN, NO_NUL, REASON, WEBHOOK_TOKEN_MAX_CHARS, json_object, text_schema
from .paths import body_name


def redrive_body() -> dict[str, Any]:
    waiting = list(WAITING_FOR_OPERATOR)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["rate", "reason"],
        "properties": {
            "name": {
                **text_schema(validation.NAME_MAX_CHARS, pattern=NO_NUL),
                "type": ["string", "null"],
                "description": "Only sagas of this name (the whole name); empty for any.",
            },
            "state": {
                "description": "One state or a list of them, among the three that wait for "
                "an operator; absent, empty or `all`: all three.",
                "anyOf": [
                    {"enum": [*waiting, "", "all", None]},
                    {"type": "array", "items": {"enum": waiting}},
                ],
            },
            "error": {
                **text_schema(validation.ERROR_MAX_CHARS, pattern=NO_NUL),
                "type": ["string", "null"],
                "description": "Only sagas whose error contains this text (any case).",
            },
            "older_than": {
                "description": "Only sagas unchanged for at least this long: an age such "
                "as `90s`, `30m`, `12h`, `2d` or `1w` (at most 100 years), or a number of "
                "seconds (at most 366 days).",
                "anyOf": [
                    {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*[smhdw]?\\s*$"},
                    {"const": ""},
                    {"type": "number", "exclusiveMinimum": 0, "maximum": clock.MAX_SECONDS},
                    {"type": "null"},
                ],
            },
            "rate": {
                "type": "number",
                "minimum": MIN_RATE,
                "maximum": MAX_RATE,
                "description": "Sagas a second. The last saga must be sent within 366 days: "
                "a rate too slow for the sagas selected is refused (`400`).",
            },
            "reason": REASON,
            "limit": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": REDRIVE_AT_ONCE,
                "description": f"How many sagas at most (default {REDRIVE_AT_ONCE:,}), written "
                "as an integer (`10`, not `10.0`).",
            },
        },
    }


def step_report() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["step_id", "attempt", "status"],
        "properties": {
            "saga_id": {**text_schema(SAGA_ID_MAX_CHARS, min_chars=1), "description": "The saga."},
            "saga_name": {
                **text_schema(validation.NAME_MAX_CHARS, min_chars=1, pattern=LABEL_PATTERN),
                "description": "With `key`, stands for `saga_id`.",
            },
            "key": {
                **text_schema(KEY_MAX_CHARS, min_chars=1, pattern=LABEL_PATTERN),
                "description": "The saga's business key, with `saga_name`.",
            },
            "step_id": {
                **text_schema(validation.NAME_MAX_CHARS, min_chars=1),
                "description": "The step's id or name.",
            },
            "attempt": {
                "type": "integer",
                "minimum": 1,
                "description": "The attempt this result answers: the handler's `step.attempts`, "
                "written as an integer (`1`, not `1.0`).",
            },
            "report_token": {
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": WEBHOOK_TOKEN_MAX_CHARS,
                "description": "The handler's `step.report_token`, unique to this attempt of "
                "this step of this saga. Required in a report by key; optional (but "
                "checked when given) in a report by id.",
            },
            "status": {"enum": ["completed", "failed"]},
            "output": json_object("The step's output, for `completed`."),
            "error": {
                **text_schema(validation.ERROR_MAX_CHARS, pattern=NO_NUL),
                "type": ["string", "null"],
                "description": "Why it failed, for `failed`.",
            },
        },
        "oneOf": [
            {
                "title": "by id",
                "required": ["saga_id"],
                "not": {"anyOf": [{"required": ["saga_name"]}, {"required": ["key"]}]},
            },
            {
                "title": "by key",
                "required": ["saga_name", "key", "report_token"],
                "properties": {"report_token": {"type": "string"}},
                "not": {"required": ["saga_id"]},
            },
        ],
    }


def action_bodies() -> dict[str, Any]:
    """The body of each operator action: a reason, and the JSON object it takes."""
    bodies: dict[str, Any] = {
        "ReasonBody": {
            "type": "object",
            "additionalProperties": False,
            "required": ["reason"],
            "properties": {"reason": REASON},
        }
    }
    for action in ACTIONS:
        if action.data is None:
            continue
        absent = "its own" if action.data.keeps_own else "`{}`"
        bodies[body_name(action)] = {
            "type": "object",
            "additionalProperties": False,
            "required": ["reason"],
            "properties": {
                "reason": REASON,
                action.data.key: json_object(f"{action.data.meaning}; absent or null: {absent}."),
            },
        }
    return bodies
