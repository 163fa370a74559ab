"""The document's paths: every endpoint, its parameters and its answers.

The operator actions' endpoints are made from the actions' declarations;
the schedules' are in ``schedules``."""

from __future__ import annotations

from typing import Any

from ...actions import ACTIONS, REDRIVE_PERMISSION, Action
from ...models import SAGA_ID_MAX_CHARS, SagaState
from ..queries import REDRIVE_AT_ONCE
from .blocks import (
    BATCH,
    NO_NUL,
    READ_SECURITY,
    SAGA_ID,
    STEP,
    WEBHOOK_ERRORS,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    WRITE_SECURITY,
    json_content,
    not_found,
    read_refusals,
    refusal,
    schema_ref,
    text_schema,
    write_refusals,
)
from .flow import flow_paths
from .schedules import schedule_paths
from .tasks import task_paths


def paths() -> dict[str, Any]:
    paths = _unsorted_paths()
    for operations in paths.values():
        for key, operation in operations.items():
            if key != "parameters":
                operation["responses"] = dict(sorted(operation["responses"].items()))
    return paths


def _unsorted_paths() -> dict[str, Any]:
    return {
        "/api/sagas/": {"get": _list_sagas()},
        "/api/sagas/{saga_id}/": {"parameters": [SAGA_ID], "get": _get_saga()},
        **{_action_path(action): _action_item(action) for action in ACTIONS},
        "/api/redrive/": {"post": _redrive()},
        "/api/redrive/{batch}/": {"parameters": [BATCH], "get": _redrive_progress()},
        **schedule_paths(),
        **flow_paths(),
        **task_paths(),
        "/api/openapi.json": {"get": _get_document()},
        "/webhook/": {"post": _webhook()},
    }


def _list_sagas() -> dict[str, Any]:
    def text_filter(name: str, description: str, max_chars: int | None = None) -> dict:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description + " No NUL character (`400`).",
            "schema": text_schema(max_chars, pattern=NO_NUL),
        }

    def cursor(name: str, description: str) -> dict:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description
            + " At most one of `before` and `after`; no longer than a saga id (`400`).",
            "schema": text_schema(SAGA_ID_MAX_CHARS, pattern=NO_NUL),
        }

    return {
        "operationId": "listSagas",
        "tags": ["sagas"],
        "summary": "List sagas, newest first",
        "description": "Filtered like the console's dashboard and paged by cursor: follow "
        "`next` for older sagas and `previous` for newer ones (`page` is refused). "
        "`count` is exact up to 10,000 matching sagas, PostgreSQL's estimate above "
        "(`count_exact` false). A page holds `SAGA['CONSOLE_PAGE_SIZE']` sagas.",
        "security": READ_SECURITY,
        "parameters": [
            {
                "name": "state",
                "in": "query",
                "required": False,
                "description": "Only sagas in this state (empty: any).",
                "schema": {"enum": ["", *SagaState.values]},
            },
            text_filter("name", "Only sagas of this name (the whole name)."),
            text_filter("key", "Only sagas with this business key."),
            text_filter("parent", "Only the child sagas of the saga with this id."),
            text_filter("q", "A saga id, else a business key, else part of a name (any case)."),
            cursor("before", "The page of sagas older than this saga id (from `next`)."),
            cursor("after", "The page of sagas newer than this saga id (from `previous`)."),
        ],
        "responses": {
            "200": {
                "description": "A page of sagas.",
                "content": json_content(schema_ref("SagaPage")),
            },
            "400": refusal(
                "An unknown `state`, a `page` parameter, a NUL in a filter, or a cursor no "
                "page link could hold (`bad_request`).",
                ("bad_request",),
            ),
            **read_refusals(),
        },
    }


def _get_saga() -> dict[str, Any]:
    return {
        "operationId": "getSaga",
        "tags": ["sagas"],
        "summary": "One saga: its steps and its trail of operator actions",
        "security": READ_SECURITY,
        "responses": {
            "200": {
                "description": "The saga's status.",
                "content": json_content(schema_ref("SagaStatus")),
            },
            "404": not_found("No saga has this id"),
            **read_refusals(),
        },
    }


def _action_path(action: Action) -> str:
    if action.on_step:
        return f"/api/sagas/{{saga_id}}/steps/{{step}}/{action.segment}/"
    return f"/api/sagas/{{saga_id}}/{action.segment}/"


def body_name(action: Action) -> str:
    """The name of the schema of the action's body."""
    if action.data is None:
        return "ReasonBody"
    return f"{action.api_id[0].upper()}{action.api_id[1:]}Body"


def _action_item(action: Action) -> dict[str, Any]:
    missing = (
        "No saga has this id, or it has no such step" if action.on_step else ("No saga has this id")
    )
    return {
        "parameters": [SAGA_ID, STEP] if action.on_step else [SAGA_ID],
        "post": {
            "operationId": action.api_id,
            "tags": ["actions"],
            "summary": action.api_summary,
            "description": f"{action.explanation} {action.refused_when} Needs "
            f"`{action.permission}`. The checks run in this order: the saga (and step) "
            "exist (`404`), the body and the reason (`400`), the saga's state (`409`).",
            "security": WRITE_SECURITY,
            "requestBody": {
                "required": True,
                "description": "A JSON object, read as JSON whatever the Content-Type; an "
                "empty body is an empty object (so it lacks the required reason). A form "
                "body is refused (`400`).",
                "content": json_content(schema_ref(body_name(action))),
            },
            "responses": {
                "202": {
                    "description": "Accepted: the engine carries it out. The saga's status "
                    "as it stands, its trail holding this action.",
                    "content": json_content(schema_ref("SagaStatus")),
                },
                "404": not_found(missing),
                "409": refusal(
                    "The saga's state does not allow it; `message` says why, `state` is "
                    "the saga's state now (`invalid_state_transition`).",
                    ("invalid_state_transition", "cannot_start"),
                    state={"type": ["string", "null"]},
                ),
                **write_refusals(),
            },
        },
    }


def _redrive() -> dict[str, Any]:
    return {
        "operationId": "redriveSagas",
        "tags": ["re-drives"],
        "summary": "Retry, paced, the sagas waiting for an operator that the body selects",
        "description": "Each selected saga gets what its state needs: its failed steps "
        "retried (`failed`, `halted`) or its compensation retried "
        "(`compensation_failed`), each `1 / rate` seconds after the one before, "
        f"through the outbox. At most `limit` (up to {REDRIVE_AT_ONCE:,}) sagas, oldest "
        "first, per request: `more` says whether others match. A saga whose state "
        f"allows nothing is listed in `refused`. Needs `{REDRIVE_PERMISSION}`.",
        "security": WRITE_SECURITY,
        "requestBody": {
            "required": True,
            "description": "A JSON object, read as JSON whatever the Content-Type.",
            "content": json_content(schema_ref("RedriveBody")),
        },
        "responses": {
            "202": {
                "description": "The re-drive: its id, pace, and what it did.",
                "content": json_content(schema_ref("Redrive")),
            },
            **write_refusals(),
        },
    }


def _redrive_progress() -> dict[str, Any]:
    return {
        "operationId": "getRedrive",
        "tags": ["re-drives"],
        "summary": "Where a re-drive stands: its sagas by state now",
        "security": READ_SECURITY,
        "responses": {
            "200": {
                "description": "The re-drive's progress.",
                "content": json_content(schema_ref("RedriveProgress")),
            },
            "404": not_found("No re-drive has this id"),
            **read_refusals(),
        },
    }


def _get_document() -> dict[str, Any]:
    return {
        "operationId": "getOpenApiDocument",
        "tags": ["document"],
        "summary": "This OpenAPI document",
        "description": "Served to whoever may view the console, with the project's own "
        "console prefix and cookie and header names. The documentation site has the "
        "same document with Django's defaults.",
        "security": READ_SECURITY,
        "responses": {
            "200": {
                "description": "The OpenAPI 3.1 document.",
                "content": json_content({"type": "object", "required": ["openapi", "paths"]}),
            },
            **read_refusals(),
        },
    }


def _webhook() -> dict[str, Any]:
    errors = WEBHOOK_ERRORS
    return {
        "operationId": "reportStepResult",
        "tags": ["webhook"],
        "summary": "Report the result of a step that waits for an outside service",
        "description": "The body names the saga (by `saga_id`, or by `saga_name` and "
        "`key`), the step, the attempt that the result answers and the step's "
        "`report_token` for it, all handed to the service by the step's handler. A "
        "report is checked in this order: the secret is configured (`503`); the "
        "declared length (`400`, `413`); the signature (`401`); the timestamp "
        "(`409 stale_timestamp`); the body (`400`); then the saga and step (`404`), "
        "the token, the attempt and whether the step waits (`409`). A refusal "
        "changes nothing. Any other method than POST is answered `405` "
        "(`method_not_allowed`, with `Allow: POST`). No session, token or CSRF "
        "token is involved: the signature authenticates the report.",
        "security": [],
        "parameters": [
            {
                "name": WEBHOOK_TIMESTAMP_HEADER,
                "in": "header",
                "required": True,
                "description": "When the report was signed, in Unix seconds; it must be "
                "within `SAGA['WEBHOOK_TOLERANCE']` seconds of the server's clock.",
                "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
            },
            {
                "name": WEBHOOK_SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "`sha256=` and the hex HMAC-SHA256, keyed with "
                "`SAGA['WEBHOOK_SECRET']` (any of them, while it is rotated), of the "
                "timestamp header's value, a `.`, and the raw body, byte for byte.",
                "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
            },
        ],
        "requestBody": {
            "required": True,
            "description": "The report, at most `SAGA['WEBHOOK_MAX_BYTES']` bytes; a "
            "`Content-Length` over that is refused before the body is read.",
            "content": json_content(schema_ref("StepReport")),
        },
        "responses": {
            "200": {
                "description": "Recorded (`recorded: true`: the saga moves on), or a "
                "repeat of a result already recorded for that attempt (`recorded: "
                "false`: nothing changed).",
                "content": json_content(schema_ref("StepReportRecorded")),
            },
            "400": refusal(
                "The body is not JSON, is nested too deep, or a field is missing, of "
                "the wrong type or over a limit (a report by key without "
                "`report_token` is one); or `Content-Length` is not a number "
                "(`malformed`).",
                errors[400],
            ),
            "401": refusal(
                "The signature or the timestamp header is missing or wrong (`bad_signature`).",
                errors[401],
            ),
            "404": refusal("No such saga, or it has no such step (`not_found`).", errors[404]),
            "409": refusal(
                "`stale_timestamp`: the timestamp is more than "
                "`SAGA['WEBHOOK_TOLERANCE']` seconds away (sign the report again when "
                "sending it); `token_mismatch`: `report_token` is not the one the "
                "waiting step handed out for that attempt (the report answers an "
                "earlier saga with the same key, or the token is wrong); "
                "`stale_attempt`: the report answers another attempt than the one that "
                "waits; `not_waiting`: the step is not waiting (it timed out, or the "
                "saga was compensated).",
                errors[409],
            ),
            "413": refusal(
                "The body is over `SAGA['WEBHOOK_MAX_BYTES']` (`too_large`).", errors[413]
            ),
            "503": refusal(
                "Try again later: `webhook_disabled`, `SAGA['WEBHOOK_SECRET']` is not "
                "set; `webhook_misconfigured`, a setting the webhook needs is not valid "
                "(`WEBHOOK_SECRET`, `WEBHOOK_TOLERANCE`); `unavailable`, the database is "
                "unavailable.",
                errors[503],
            ),
        },
    }
