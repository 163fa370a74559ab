"""The document's components: security schemes, shared answers and schemas."""

from __future__ import annotations

from typing import Any

from ...actions import ACTIONS
from ...models import SagaState, StepStatus
from ..tokens import PREFIX_CHARS, TOKEN_PREFIX
from .blocks import (
    API_ERRORS,
    NO_NUL,
    WHEN,
    WHEN_OR_NULL,
    closed,
    error_body,
    json_content,
    refusal,
    schema_ref,
)
from .bodies import action_bodies, redrive_body, step_report
from .flow import flow_schemas
from .schedules import schedule_schemas
from .tasks import task_schemas


def components(session_cookie: str, csrf_cookie: str, csrf_header: str) -> dict[str, Any]:
    return {
        "securitySchemes": {
            "bearerToken": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": f"{TOKEN_PREFIX}<{PREFIX_CHARS} hex>_<43 URL-safe characters>",
                "description": "An API token: acts as its user, needs no CSRF token.",
            },
            "sessionCookie": {
                "type": "apiKey",
                "in": "cookie",
                "name": session_cookie,
                "description": "A logged-in Django session.",
            },
            "csrfToken": {
                "type": "apiKey",
                "in": "header",
                "name": csrf_header,
                "description": f"With a session, a POST also sends the `{csrf_cookie}` "
                "cookie and its value in this header.",
            },
        },
        "responses": {
            "InvalidToken": {
                "description": "The bearer token is malformed, unknown or revoked, or its "
                "user is inactive (`invalid_token`).",
                "headers": {
                    "WWW-Authenticate": {
                        "description": 'Bearer realm="django-saga", error="invalid_token"',
                        "schema": {"type": "string"},
                    }
                },
                "content": json_content(error_body(API_ERRORS[401])),
            },
            "ReadForbidden": refusal(
                "Neither a session nor a token (`not_authenticated`), or the user may "
                "not view the console (`permission_denied`).",
                ("not_authenticated", "permission_denied"),
            ),
            "WriteForbidden": refusal(
                "Neither a session nor a token (`not_authenticated`); the user may not "
                "view the console or lacks the action's permission "
                "(`permission_denied`); or a session's CSRF token is missing or wrong "
                "(`csrf_failed`).",
                ("not_authenticated", "permission_denied", "csrf_failed"),
            ),
            "BadRequest": refusal(
                "A body the endpoint cannot use: not JSON, not an object, a form, a "
                "field it does not take, or a value it refuses (each named in "
                "`message`), or a missing or blank reason (`bad_request`).",
                ("bad_request",),
            ),
            "TooLarge": refusal(
                "The body is over Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` (`too_large`).",
                API_ERRORS[413],
            ),
            "MethodNotAllowed": {
                "description": "Any method an endpoint does not take, once the user is "
                "let in (`method_not_allowed`): not an operation of its own, so it is "
                "listed here rather than under each path.",
                "headers": {
                    "Allow": {
                        "description": "The methods the endpoint takes.",
                        "schema": {"type": "string"},
                    }
                },
                "content": json_content(error_body(API_ERRORS[405])),
            },
        },
        "schemas": schemas(),
    }


def schemas() -> dict[str, Any]:
    saga_states = {"enum": list(SagaState.values)}
    return {
        "Error": {
            "type": "object",
            "description": "Every refusal, of the API and of the webhook.",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "A code to branch on."},
                "message": {"type": "string", "description": "What was wrong, in words."},
            },
        },
        "SagaState": {**saga_states, "description": "A saga's state."},
        "JsonObject": {
            "type": "object",
            "description": "A JSON object whose text (keys and strings, at any depth) "
            "holds no NUL character: PostgreSQL cannot store one.",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": schema_ref("JsonValue"),
        },
        "JsonValue": {
            "anyOf": [
                {"type": "string", "pattern": NO_NUL},
                {"type": ["number", "boolean", "null"]},
                {"type": "array", "items": schema_ref("JsonValue")},
                schema_ref("JsonObject"),
            ],
        },
        "SagaSummary": closed(
            {
                **SAGA_PROPERTIES,
                "steps_done": {"type": "integer", "minimum": 0},
                "steps_total": {"type": "integer", "minimum": 0},
                "url": {"type": "string", "description": "The saga's status (a path)."},
            }
        ),
        "SagaPage": {
            "type": "object",
            "additionalProperties": False,
            "required": ["count", "count_exact", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "count_exact": {"type": "boolean"},
                "next": {
                    "type": ["string", "null"],
                    "description": "The page of older sagas (a path and query); null on "
                    "the oldest.",
                },
                "previous": {
                    "type": ["string", "null"],
                    "description": "The page of newer sagas; null on the newest.",
                },
                "results": {"type": "array", "items": schema_ref("SagaSummary")},
            },
        },
        "Step": closed(STEP_PROPERTIES),
        "Intervention": {
            "type": "object",
            "description": "One operator action on the saga's trail.",
            "additionalProperties": False,
            "required": ["at", "by", "action", "step", "reason", "batch", "details"],
            "properties": {
                "at": WHEN,
                "by": {"type": "string", "description": "Who asked."},
                "action": {"enum": [action.name for action in ACTIONS]},
                "step": {"type": "string", "description": "The step's name; empty for none."},
                "reason": {"type": "string"},
                "batch": {"type": "string", "description": "The re-drive; empty for none."},
                "details": {
                    "type": "object",
                    "description": "The saga's state before, and any input or output given.",
                },
            },
        },
        "SagaStatus": closed(
            {
                **SAGA_PROPERTIES,
                "steps": {"type": "array", "items": schema_ref("Step")},
                "children": {"type": "array", "items": closed(CHILD_PROPERTIES)},
                "interventions": {"type": "array", "items": schema_ref("Intervention")},
            }
        ),
        **action_bodies(),
        "RedriveBody": redrive_body(),
        "Redrive": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "batch",
                "rate",
                "scheduled",
                "refused",
                "seconds",
                "more",
                "progress_url",
            ],
            "properties": {
                "batch": {"type": "string", "description": "The re-drive's id."},
                "rate": {"type": "number", "description": "Sagas a second."},
                "scheduled": {"type": "integer", "minimum": 0},
                "refused": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["saga_id", "reason"],
                        "properties": {
                            "saga_id": {"type": "string"},
                            "reason": {"type": "string", "description": "Why it was left."},
                        },
                    },
                },
                "seconds": {
                    "type": "number",
                    "minimum": 0,
                    "description": "How long after the first saga the last one is sent.",
                },
                "more": {
                    "type": "boolean",
                    "description": "More sagas match than this request took: send another.",
                },
                "progress_url": {
                    "type": ["string", "null"],
                    "description": "Its progress (a path); null when nothing was scheduled.",
                },
            },
        },
        "RedriveProgress": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "batch",
                "by",
                "reason",
                "started_at",
                "sending_until",
                "sagas",
                "states",
                "under_way",
            ],
            "properties": {
                "batch": {"type": "string"},
                "by": {"type": "string"},
                "reason": {"type": "string"},
                "started_at": WHEN,
                "sending_until": {**WHEN, "description": "When its last saga is sent."},
                "sagas": {"type": "integer", "minimum": 0},
                "states": {
                    "type": "object",
                    "description": "How many of its sagas are in each state now.",
                    "propertyNames": saga_states,
                    "additionalProperties": {"type": "integer", "minimum": 1},
                },
                "under_way": {
                    "type": "boolean",
                    "description": "Whether sagas are still being sent or running.",
                },
            },
        },
        **schedule_schemas(),
        **flow_schemas(),
        **task_schemas(),
        "StepReport": step_report(),
        "StepReportRecorded": {
            "type": "object",
            "additionalProperties": False,
            "required": ["saga_id", "step_id", "attempt", "status", "recorded"],
            "properties": {
                "saga_id": {"type": "string", "description": "The saga's id (also by key)."},
                "step_id": {"type": "string", "description": "As the report gave it."},
                "attempt": {"type": "integer", "minimum": 1},
                "status": {"enum": ["completed", "failed"]},
                "recorded": {
                    "type": "boolean",
                    "description": "False for a repeat of a result already recorded.",
                },
            },
        },
    }


#: ``django_saga.serialise.saga_json``'s fields.
SAGA_PROPERTIES: dict[str, Any] = {
    "saga_id": {"type": "string"},
    "name": {"type": "string"},
    "key": {"type": "string", "description": "The business key; empty for none."},
    "state": schema_ref("SagaState"),
    "error": {"type": "string", "description": "Why it did not complete, if so."},
    "created_at": WHEN,
    "updated_at": WHEN,
    "completed_at": WHEN_OR_NULL,
    "deadline_at": {**WHEN_OR_NULL, "description": "When it is compensated if still running."},
    "definition": {
        "type": "string",
        "description": "The SagaDefinition class that built it; empty for none.",
    },
    "version": {"type": "string", "description": "That definition's version."},
    "parent_id": {
        "type": ["string", "null"],
        "description": "The saga whose step started this one, if it is a child saga.",
    },
    "parent_step_id": {
        "type": ["string", "null"],
        "description": "That parent's step, which waits for this saga to end.",
    },
    "depth": {"type": "integer", "minimum": 0, "description": "How many parents it has."},
}

#: ``django_saga.serialise.child_json``'s fields.
CHILD_PROPERTIES: dict[str, Any] = {
    "saga_id": {"type": "string"},
    "name": {"type": "string"},
    "state": schema_ref("SagaState"),
    "parent_step_id": {"type": "string", "description": "The step that started it."},
}

#: ``django_saga.serialise.step_json``'s fields (without its content).
STEP_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string"},
    "position": {"type": "integer", "minimum": 0},
    "stage": {"type": "integer", "minimum": 0},
    "name": {"type": "string"},
    "action": {"type": "string"},
    "compensation": {"type": "string", "description": "Empty for none."},
    "pivot": {"type": "boolean"},
    "status": {"enum": list(StepStatus.values)},
    "attempts": {"type": "integer", "minimum": 0},
    "compensation_attempts": {"type": "integer", "minimum": 0},
    "executed_at": WHEN_OR_NULL,
    "compensated_at": WHEN_OR_NULL,
    "sleeping_until": {
        **WHEN_OR_NULL,
        "description": "When a sleep step that has started sleeping wakes; null otherwise.",
    },
    "error": {"type": "string"},
}
