"""The tasks' endpoints and schemas: a user's inbox and a task, and
claiming, releasing, delegating, completing and rejecting it."""

from __future__ import annotations

from typing import Any

from ...actions.tasks import ANY_TASK_PERMISSION, BOXES, INBOX_PAGE, TASK_ACTS
from ...models import SAGA_ID_MAX_CHARS, OfferKind, TaskState
from .blocks import (
    READ_SECURITY,
    REASON,
    WHEN,
    WHEN_OR_NULL,
    WRITE_SECURITY,
    closed,
    json_content,
    path_parameter,
    ref,
    refusal,
    schema_ref,
)

TASK_ID = path_parameter("task_id", SAGA_ID_MAX_CHARS, "The task's id, as the inbox gives it.")
NOT_OFFERED_CODES = ("not_authenticated", "permission_denied", "csrf_failed", "not_offered")
NOT_OFFERED = refusal(
    "Neither a session nor a token (`not_authenticated`), an inactive user "
    "(`permission_denied`), a session's CSRF token missing or wrong (`csrf_failed`), or a "
    "task not offered to the caller, whether or not it exists (`not_offered`).",
    NOT_OFFERED_CODES,
)
#: What each act's body must hold: a delegation says to whom and why, a rejection why.
REQUIRED = {"delegate": ["to", "reason"], "reject": ["reason"]}
SUMMARIES = {
    "claim": "Claim a task: nobody else may act on it until released",
    "release": "Give a claimed task back to everyone it is offered to",
    "delegate": "Hand a task to one named user, claimed for them",
    "complete": "Answer a task with its form's data: its step goes on",
    "reject": "Turn a task down: its step fails and the saga compensates",
}


def task_paths() -> dict[str, Any]:
    return {
        "/api/tasks/": {"get": _list()},
        "/api/tasks/{task_id}/": {"parameters": [TASK_ID], "get": _get()},
        **{
            f"/api/tasks/{{task_id}}/{act}/": {"parameters": [TASK_ID], "post": _act(act)}
            for act in TASK_ACTS
        },
    }


def _list() -> dict[str, Any]:
    return {
        "operationId": "listTasks",
        "tags": ["tasks"],
        "summary": "A box of the caller's tasks, newest first, and how many each box holds",
        "description": f"`box`: `mine` (offered to me, not claimed), `claimed` (by me), `team` "
        f"(offered to my groups, claimed or not) or `all` (`{ANY_TASK_PERMISSION}` only). "
        f"{INBOX_PAGE} a page; `next` pages on. Any active user may call it.",
        "security": READ_SECURITY,
        "parameters": [
            {"name": "box", "in": "query", "schema": {"enum": list(BOXES), "default": "mine"}},
            {
                "name": "before",
                "in": "query",
                "description": "A task's id: the tasks older than it.",
                "schema": {"type": "string", "maxLength": SAGA_ID_MAX_CHARS},
            },
        ],
        "responses": {
            "200": {"description": "The box.", "content": json_content(schema_ref("TaskBox"))},
            "400": refusal("A box the caller has not, or a bad `before`.", ("bad_request",)),
            "401": ref("responses", "InvalidToken"),
            "403": NOT_OFFERED,
        },
    }


def _get() -> dict[str, Any]:
    return {
        "operationId": "getTask",
        "tags": ["tasks"],
        "summary": "One task: what it shows, whom it is offered to, who has it, its form",
        "security": READ_SECURITY,
        "responses": {
            "200": {"description": "The task.", "content": json_content(schema_ref("Task"))},
            "401": ref("responses", "InvalidToken"),
            "403": NOT_OFFERED,
        },
    }


def _act(act: str) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "Done: the task as it stands.",
            "content": json_content(schema_ref("Task")),
        },
        "400": refusal(
            "A body the endpoint cannot use, a value it refuses (`bad_request`)"
            + (
                ", or data the task's form refuses: `errors` by field (`invalid_form`)."
                if act == "complete"
                else "."
            ),
            ("bad_request", "invalid_form") if act == "complete" else ("bad_request",),
            **({"errors": {"type": "object"}} if act == "complete" else {}),
        ),
        "401": ref("responses", "InvalidToken"),
        "403": refusal(
            "As for reading the task (`not_offered` and the rest), or the caller may not do "
            "this to it: someone else claimed it, it may not be delegated (`not_allowed`).",
            (*NOT_OFFERED_CODES, "not_allowed"),
        ),
        "409": refusal(
            "The task has ended: answered, escalated away or cancelled (`task_closed`).",
            ("task_closed",),
        ),
        "413": ref("responses", "TooLarge"),
    }
    return {
        "operationId": f"{act}Task",
        "tags": ["tasks"],
        "summary": SUMMARIES[act],
        "description": "Recorded on the saga's trail with the caller and the reason. Two "
        "answers at once: one is recorded, the other gets `409`.",
        "security": WRITE_SECURITY,
        "requestBody": {
            "required": act in REQUIRED,
            "content": json_content(schema_ref(f"Task{act.capitalize()}Body")),
        },
        "responses": responses,
    }


def task_schemas() -> dict[str, Any]:
    field = closed(
        {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "type": {"type": "string", "description": "The Django form field's class name."},
            "required": {"type": "boolean"},
            "help_text": {"type": "string"},
            "choices": {
                "type": ["array", "null"],
                "items": {"type": "array", "items": {"type": "string"}},
            },
        },
        "A field of the task's form.",
    )
    task = closed(
        {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "state": {"enum": list(TaskState.values)},
            "shown": {"type": "object", "description": "What of the saga the task shows."},
            "due_at": WHEN_OR_NULL,
            "overdue": {"type": "boolean"},
            "escalations": {"type": "integer", "minimum": 0},
            "claimed_by": {"type": "string"},
            "created_at": WHEN,
            "done_by": {"type": "string"},
            "done_at": WHEN_OR_NULL,
            "reason": {"type": "string"},
            "offered_to": {
                "type": "array",
                "items": closed(
                    {"kind": {"enum": list(OfferKind.values)}, "name": {"type": "string"}}
                ),
            },
            "form": {"type": "array", "items": field},
            "url": {"type": "string"},
        },
        "A task of a task step.",
    )
    reason = {"reason": REASON}
    bodies = {
        "claim": reason,
        "release": reason,
        "delegate": {"to": {"type": "string", "minLength": 1}, **reason},
        "complete": {"data": {"type": "object"}, **reason},
        "reject": reason,
    }
    return {
        "Task": task,
        "TaskBox": closed(
            {
                "box": {"enum": list(BOXES)},
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                "results": {"type": "array", "items": schema_ref("Task")},
                "next": {"type": ["string", "null"]},
            },
            "A box of tasks.",
        ),
        **{
            f"Task{act.capitalize()}Body": {
                "type": "object",
                "additionalProperties": False,
                "required": REQUIRED.get(act, []),
                "properties": properties,
            }
            for act, properties in bodies.items()
        },
    }
