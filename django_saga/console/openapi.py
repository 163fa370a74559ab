"""The OpenAPI 3.1 description of the console's JSON API and of the step-result webhook.

One document, built here and nowhere else: the console serves it
(``api/openapi.json``, to whoever may view the console), the documentation
site renders it and offers it for download (``docs/hooks.py``), and the
tests check every endpoint's real answers against it and fuzz the API from
it. The enumerations (states, statuses, actions) and the limits come from
the code that enforces them, so they cannot drift apart.

The webhook sits above the console in the package's layers, so its header
names and fields are written out here; ``tests/unit/test_openapi.py``
compares them with ``django_saga.webhook``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .. import clock, interventions, validation
from ..models import (
    KEY_MAX_CHARS,
    SAGA_ID_MAX_CHARS,
    WAITING_FOR_OPERATOR,
    Intervention,
    SagaState,
    StepStatus,
)
from .operations import (
    COMPENSATE_PERMISSION,
    REDRIVE_PERMISSION,
    RETRY_PERMISSION,
    RETRY_STEP_PERMISSION,
    SKIP_STEP_PERMISSION,
)
from .queries import REDRIVE_AT_ONCE
from .tokens import PREFIX_CHARS, TOKEN_PREFIX

#: The OpenAPI version the document follows.
OPENAPI_VERSION = "3.1.0"
#: Where the example project mounts the console; the served copy names its own.
DEFAULT_SERVER = "/sagas"
#: Django's defaults; the served copy names the project's own.
DEFAULT_SESSION_COOKIE = "sessionid"
DEFAULT_CSRF_COOKIE = "csrftoken"
DEFAULT_CSRF_HEADER = "X-CSRFToken"

#: The webhook's headers and the longest ``report_token`` it looks at
#: (``django_saga.webhook``'s ``TIMESTAMP_HEADER``, ``SIGNATURE_HEADER``, ``TOKEN_MAX_CHARS``).
WEBHOOK_TIMESTAMP_HEADER = "X-Saga-Timestamp"
WEBHOOK_SIGNATURE_HEADER = "X-Saga-Signature"
WEBHOOK_TOKEN_MAX_CHARS = 200

#: Every error code the JSON API answers with, by status.
API_ERRORS = {
    400: ("bad_request",),
    401: ("invalid_token",),
    403: ("not_authenticated", "permission_denied", "csrf_failed"),
    404: ("not_found",),
    405: ("method_not_allowed",),
    409: ("invalid_state_transition",),
    413: ("too_large",),
}
#: Every error code the webhook answers with, by status.
WEBHOOK_ERRORS = {
    400: ("malformed",),
    401: ("bad_signature",),
    404: ("not_found",),
    405: ("method_not_allowed",),
    409: ("stale_timestamp", "token_mismatch", "stale_attempt", "not_waiting"),
    413: ("too_large",),
    503: ("webhook_misconfigured", "webhook_disabled", "unavailable"),
}

_JSON = "application/json"


def document(
    *,
    server: str = DEFAULT_SERVER,
    session_cookie: str = DEFAULT_SESSION_COOKIE,
    csrf_cookie: str = DEFAULT_CSRF_COOKIE,
    csrf_header: str = DEFAULT_CSRF_HEADER,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document, as a JSON-ready dict (a new one on each call).

    ``server`` is the URL prefix under which the project includes
    ``django_saga.urls``; the cookie and header names are those the project's
    session and CSRF settings use. Paths are relative to ``server``.
    """
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "django-saga console API and step-result webhook",
            "version": _package_version(),
            "summary": "Read and repair sagas; report an outside service's result "
            "for a waiting step.",
            "description": _INFO.format(
                session_cookie=session_cookie, csrf_cookie=csrf_cookie, csrf_header=csrf_header
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [
            {
                "url": server,
                "description": "Where the project includes django_saga.urls.",
            }
        ],
        "tags": [
            {"name": "sagas", "description": "Read sagas: the list and one saga's status."},
            {
                "name": "operations",
                "description": "What an operator may do to one saga, recorded on its trail "
                "with who asked and why.",
            },
            {"name": "re-drives", "description": "Retry many waiting sagas at a paced rate."},
            {
                "name": "webhook",
                "description": "How an outside service reports a waiting step's result.",
            },
            {"name": "document", "description": "This description."},
        ],
        "paths": _paths(),
        "components": _components(session_cookie, csrf_cookie, csrf_header),
    }


def _package_version() -> str:
    try:
        return version("django-saga")
    except PackageNotFoundError:  # imported from a checkout that is not installed
        return "unknown"


_INFO = """\
The console's JSON API lets scripts and tooling read sagas and do what an
operator does in the console: compensate a saga, retry its compensation,
retry or skip a failed step, and re-drive many sagas at once. The webhook
lets an outside service report the result of a step that waits for it.

**Authentication.** Every API endpoint takes either of two credentials:

- an API token, `Authorization: Bearer dsg_...` (made with
  `manage.py saga token create` or in the admin). It acts as its user and
  needs no CSRF token. A token that is malformed, unknown or revoked, or
  whose user is inactive, is answered `401 invalid_token`.
- a logged-in Django session (the `{session_cookie}` cookie). A POST then
  also needs the CSRF token: the `{csrf_cookie}` cookie, and its value in
  the `{csrf_header}` header; without them it is answered `403 csrf_failed`.

Either way the user must be allowed to view the console (staff, when
`SAGA['CONSOLE_STAFF_ONLY']`, holding `SAGA['CONSOLE_PERMISSION']`,
`django_saga.view_saga` by default), and each operation needs its own
permission as well: `403 not_authenticated` without a user,
`403 permission_denied` without a permission. These checks come before
anything else, the method included.

The webhook takes neither: an HMAC signature of the body authenticates it.

**Errors.** Every refusal is a JSON object `{{"error": CODE, "message":
SENTENCE}}`, sometimes with more fields (a `409` of an operation adds the
saga's `state`). `message` says what was wrong in words meant for a person;
`error` is the code to branch on.

**Methods.** A method an endpoint does not take is answered
`405 method_not_allowed` with an `Allow` header (after the checks above);
HEAD is answered like GET, without a body, and OPTIONS lists the methods in
`Allow`.

**Answers that are not JSON.** A saga id, step or re-drive id that no URL
can hold (longer than its column, or holding `/` or a NUL character) matches
no route: the project's own 404 page answers it.
"""


# -- building blocks -----------------------------------------------------------------------
def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> dict[str, str]:
    return _ref("schemas", name)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {_JSON: {"schema": schema}}


def _error(codes: tuple[str, ...], **extra: dict[str, Any]) -> dict[str, Any]:
    """The error body with ``error`` one of ``codes`` (and ``extra`` fields)."""
    return {
        "allOf": [_schema("Error")],
        "properties": {"error": {"enum": list(codes)}, **extra},
    }


def _refusal(description: str, codes: tuple[str, ...], **extra: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": _json(_error(codes, **extra))}


_NOT_FOUND_PAGE = {
    "text/html": {
        "schema": {"type": "string"},
    }
}


def _not_found(what: str) -> dict[str, Any]:
    return {
        "description": f"{what} (`not_found`). A value no URL can hold matches no route "
        "and gets the project's own 404 page, HTML by default.",
        "content": {**_json(_error(API_ERRORS[404])), **_NOT_FOUND_PAGE},
    }


_READ_SECURITY: list[dict[str, list[str]]] = [{"bearerToken": []}, {"sessionCookie": []}]
_WRITE_SECURITY: list[dict[str, list[str]]] = [
    {"bearerToken": []},
    {"sessionCookie": [], "csrfToken": []},
]


def _read_refusals() -> dict[str, Any]:
    return {"401": _ref("responses", "InvalidToken"), "403": _ref("responses", "ReadForbidden")}


def _write_refusals() -> dict[str, Any]:
    return {
        "400": _ref("responses", "BadRequest"),
        "401": _ref("responses", "InvalidToken"),
        "403": _ref("responses", "WriteForbidden"),
        "413": _ref("responses", "TooLarge"),
    }


def _text(max_chars: int | None = None, *, min_chars: int = 0, **more: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", **more}
    if min_chars:
        schema["minLength"] = min_chars
    if max_chars is not None:
        schema["maxLength"] = max_chars
    return schema


_WHEN = {"type": "string", "format": "date-time"}
_WHEN_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
#: What no URL segment holds: a slash or a NUL character.
_SEGMENT = "^[^/\\u0000]+$"
#: Text a list filter may hold: anything but a NUL character.
_NO_NUL = "^[^\\u0000]*$"


def _path_parameter(name: str, max_chars: int, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": _text(max_chars, min_chars=1, pattern=_SEGMENT),
    }


_SAGA_ID = _path_parameter(
    "saga_id", SAGA_ID_MAX_CHARS, "The saga's id (a ULID, as the list and its `url` give it)."
)
_STEP = _path_parameter(
    "step", validation.NAME_MAX_CHARS, "The step's name, or its id (as the saga's status gives it)."
)
_BATCH = _path_parameter("batch", SAGA_ID_MAX_CHARS, "The re-drive's id, its `batch`.")

#: What a reason may not hold (``validation.PROSE``): control characters but
#: tab and line ends, and the bidirectional controls and line separators.
_NOT_PROSE = (
    "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f"
    "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029"
)
#: What a label (a saga's name, a key: ``validation.LABEL``) may not hold:
#: every control character, and the same bidirectional controls.
_NOT_LABEL = (
    "\\u0000-\\u001f\\u007f-\\u009f"
    "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029"
)


def _not_blank(excluded: str) -> str:
    """A pattern for text free of ``excluded``, with a character that is not white space."""
    return f"^[^{excluded}]*[^{excluded}\\s][^{excluded}]*$"


#: A reason: prose with at least one character that is not white space.
PROSE_PATTERN = _not_blank(_NOT_PROSE)
#: A saga's name or a business key, as the webhook looks it up.
LABEL_PATTERN = _not_blank(_NOT_LABEL)

_REASON = _text(
    interventions.REASON_MAX_CHARS,
    min_chars=1,
    pattern=PROSE_PATTERN,
    description="Why: the ticket, what was fixed, who agreed. Required, and not blank: "
    "it goes on the saga's trail with the user's name. Tabs and line ends are "
    "allowed; other control characters and bidirectional controls are not.",
)


def _json_object(description: str) -> dict[str, Any]:
    return {
        "description": description + " Within `SAGA['MAX_JSON_BYTES']` and "
        "`SAGA['MAX_JSON_DEPTH']`.",
        "anyOf": [_schema("JsonObject"), {"type": "null"}],
    }


# -- paths ---------------------------------------------------------------------------------
def _paths() -> dict[str, Any]:
    paths = _unsorted_paths()
    for operations in paths.values():
        for key, operation in operations.items():
            if key != "parameters":
                operation["responses"] = dict(sorted(operation["responses"].items()))
    return paths


def _unsorted_paths() -> dict[str, Any]:
    return {
        "/api/sagas/": {"get": _list_sagas()},
        "/api/sagas/{saga_id}/": {"parameters": [_SAGA_ID], "get": _get_saga()},
        "/api/sagas/{saga_id}/compensate/": {
            "parameters": [_SAGA_ID],
            "post": _operation(
                "compensateSaga",
                "Compensate a saga",
                "Steps not run yet are cancelled; completed steps are undone, last "
                "first. Refused (`409`) for a saga past its pivot step, already "
                "compensating or compensated, or whose compensation failed (retry it "
                "instead).",
                COMPENSATE_PERMISSION,
                _schema("ReasonBody"),
            ),
        },
        "/api/sagas/{saga_id}/retry-compensation/": {
            "parameters": [_SAGA_ID],
            "post": _operation(
                "retrySagaCompensation",
                "Retry a saga's failed compensation",
                "The compensations that failed run again, each with its whole retry "
                "budget; then the saga goes on undoing, last stage first. Refused "
                "(`409`) unless the saga is `compensation_failed`.",
                RETRY_PERMISSION,
                _schema("ReasonBody"),
            ),
        },
        "/api/sagas/{saga_id}/steps/{step}/retry/": {
            "parameters": [_SAGA_ID, _STEP],
            "post": _operation(
                "retryStep",
                "Retry a failed step",
                "The step runs again, with the `input` given (none: its own) and its "
                "whole retry budget. Refused (`409`) unless the step failed and the "
                "saga is `failed` or `halted`.",
                RETRY_STEP_PERMISSION,
                _schema("RetryStepBody"),
                step=True,
            ),
        },
        "/api/sagas/{saga_id}/steps/{step}/skip/": {
            "parameters": [_SAGA_ID, _STEP],
            "post": _operation(
                "skipStep",
                "Record a step as completed by hand",
                "The step is recorded as completed with the `output` given, without "
                "running its handler, and the saga goes on. Refused (`409`) unless the "
                "step failed in a `failed` or `halted` saga, or waits for an outside "
                "result in a saga that is `started`, `failed` or `halted`.",
                SKIP_STEP_PERMISSION,
                _schema("SkipStepBody"),
                step=True,
            ),
        },
        "/api/redrive/": {"post": _redrive()},
        "/api/redrive/{batch}/": {"parameters": [_BATCH], "get": _redrive_progress()},
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
            "schema": _text(max_chars, pattern=_NO_NUL),
        }

    def cursor(name: str, description: str) -> dict:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description
            + " At most one of `before` and `after`; no longer than a saga id (`400`).",
            "schema": _text(SAGA_ID_MAX_CHARS, pattern=_NO_NUL),
        }

    return {
        "operationId": "listSagas",
        "tags": ["sagas"],
        "summary": "List sagas, newest first",
        "description": "Filtered like the console's dashboard and paged by cursor: follow "
        "`next` for older sagas and `previous` for newer ones (`page` is refused). "
        "`count` is exact up to 10,000 matching sagas, PostgreSQL's estimate above "
        "(`count_exact` false). A page holds `SAGA['CONSOLE_PAGE_SIZE']` sagas.",
        "security": _READ_SECURITY,
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
            text_filter("q", "A saga id, else a business key, else part of a name (any case)."),
            cursor("before", "The page of sagas older than this saga id (from `next`)."),
            cursor("after", "The page of sagas newer than this saga id (from `previous`)."),
        ],
        "responses": {
            "200": {"description": "A page of sagas.", "content": _json(_schema("SagaPage"))},
            "400": _refusal(
                "An unknown `state`, a `page` parameter, a NUL in a filter, or a cursor no "
                "page link could hold (`bad_request`).",
                API_ERRORS[400],
            ),
            **_read_refusals(),
        },
    }


def _get_saga() -> dict[str, Any]:
    return {
        "operationId": "getSaga",
        "tags": ["sagas"],
        "summary": "One saga: its steps and its trail of operator actions",
        "security": _READ_SECURITY,
        "responses": {
            "200": {"description": "The saga's status.", "content": _json(_schema("SagaStatus"))},
            "404": _not_found("No saga has this id"),
            **_read_refusals(),
        },
    }


def _operation(
    operation_id: str,
    summary: str,
    description: str,
    permission: str,
    body: dict[str, Any],
    *,
    step: bool = False,
) -> dict[str, Any]:
    missing = "No saga has this id, or it has no such step" if step else "No saga has this id"
    return {
        "operationId": operation_id,
        "tags": ["operations"],
        "summary": summary,
        "description": description
        + f" Needs `{permission}`. The checks run in this order: the saga (and step) "
        "exist (`404`), the body (`400`), the saga's state (`409`), the reason (`400`).",
        "security": _WRITE_SECURITY,
        "requestBody": {
            "required": True,
            "description": "A JSON object, read as JSON whatever the Content-Type; an "
            "empty body is an empty object (so it lacks the required reason). A form "
            "body is refused (`400`).",
            "content": _json(body),
        },
        "responses": {
            "202": {
                "description": "Accepted: the engine carries it out. The saga's status "
                "as it stands, its trail holding this action.",
                "content": _json(_schema("SagaStatus")),
            },
            "404": _not_found(missing),
            "409": _refusal(
                "The saga's state does not allow it; `message` says why, `state` is "
                "the saga's state now (`invalid_state_transition`).",
                API_ERRORS[409],
                state={"type": ["string", "null"]},
            ),
            **_write_refusals(),
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
        "security": _WRITE_SECURITY,
        "requestBody": {
            "required": True,
            "description": "A JSON object, read as JSON whatever the Content-Type.",
            "content": _json(_schema("RedriveBody")),
        },
        "responses": {
            "202": {
                "description": "The re-drive: its id, pace, and what it did.",
                "content": _json(_schema("Redrive")),
            },
            **_write_refusals(),
        },
    }


def _redrive_progress() -> dict[str, Any]:
    return {
        "operationId": "getRedrive",
        "tags": ["re-drives"],
        "summary": "Where a re-drive stands: its sagas by state now",
        "security": _READ_SECURITY,
        "responses": {
            "200": {
                "description": "The re-drive's progress.",
                "content": _json(_schema("RedriveProgress")),
            },
            "404": _not_found("No re-drive has this id"),
            **_read_refusals(),
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
        "security": _READ_SECURITY,
        "responses": {
            "200": {
                "description": "The OpenAPI 3.1 document.",
                "content": _json({"type": "object", "required": ["openapi", "paths"]}),
            },
            **_read_refusals(),
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
            "content": _json(_schema("StepReport")),
        },
        "responses": {
            "200": {
                "description": "Recorded (`recorded: true`: the saga moves on), or a "
                "repeat of a result already recorded for that attempt (`recorded: "
                "false`: nothing changed).",
                "content": _json(_schema("StepReportRecorded")),
            },
            "400": _refusal(
                "The body is not JSON, is nested too deep, or a field is missing, of "
                "the wrong type or over a limit (a report by key without "
                "`report_token` is one); or `Content-Length` is not a number "
                "(`malformed`).",
                errors[400],
            ),
            "401": _refusal(
                "The signature or the timestamp header is missing or wrong (`bad_signature`).",
                errors[401],
            ),
            "404": _refusal("No such saga, or it has no such step (`not_found`).", errors[404]),
            "409": _refusal(
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
            "413": _refusal(
                "The body is over `SAGA['WEBHOOK_MAX_BYTES']` (`too_large`).", errors[413]
            ),
            "503": _refusal(
                "Try again later: `webhook_disabled`, `SAGA['WEBHOOK_SECRET']` is not "
                "set; `webhook_misconfigured`, a setting the webhook needs is not valid "
                "(`WEBHOOK_SECRET`, `WEBHOOK_TOLERANCE`); `unavailable`, the database is "
                "unavailable.",
                errors[503],
            ),
        },
    }


# -- components ----------------------------------------------------------------------------
def _components(session_cookie: str, csrf_cookie: str, csrf_header: str) -> dict[str, Any]:
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
                "content": _json(_error(API_ERRORS[401])),
            },
            "ReadForbidden": _refusal(
                "Neither a session nor a token (`not_authenticated`), or the user may "
                "not view the console (`permission_denied`).",
                ("not_authenticated", "permission_denied"),
            ),
            "WriteForbidden": _refusal(
                "Neither a session nor a token (`not_authenticated`); the user may not "
                "view the console or lacks the operation's permission "
                "(`permission_denied`); or a session's CSRF token is missing or wrong "
                "(`csrf_failed`).",
                API_ERRORS[403],
            ),
            "BadRequest": _refusal(
                "A body the endpoint cannot use: not JSON, not an object, a form, a "
                "field it does not take, or a value it refuses (each named in "
                "`message`), or a missing or blank reason (`bad_request`).",
                API_ERRORS[400],
            ),
            "TooLarge": _refusal(
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
                "content": _json(_error(API_ERRORS[405])),
            },
        },
        "schemas": _schemas(),
    }


def _schemas() -> dict[str, Any]:
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
            "propertyNames": {"pattern": _NO_NUL},
            "additionalProperties": _schema("JsonValue"),
        },
        "JsonValue": {
            "anyOf": [
                {"type": "string", "pattern": _NO_NUL},
                {"type": ["number", "boolean", "null"]},
                {"type": "array", "items": _schema("JsonValue")},
                _schema("JsonObject"),
            ],
        },
        "SagaSummary": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "saga_id",
                "name",
                "key",
                "state",
                "steps_done",
                "steps_total",
                "created_at",
                "updated_at",
                "completed_at",
                "url",
            ],
            "properties": {
                "saga_id": {"type": "string"},
                "name": {"type": "string"},
                "key": {"type": "string", "description": "The business key; empty for none."},
                "state": _schema("SagaState"),
                "steps_done": {"type": "integer", "minimum": 0},
                "steps_total": {"type": "integer", "minimum": 0},
                "created_at": _WHEN,
                "updated_at": _WHEN,
                "completed_at": _WHEN_OR_NULL,
                "url": {"type": "string", "description": "The saga's status (a path)."},
            },
        },
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
                "results": {"type": "array", "items": _schema("SagaSummary")},
            },
        },
        "Step": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "id",
                "name",
                "stage",
                "action",
                "compensation",
                "pivot",
                "status",
                "attempts",
                "executed_at",
                "compensated_at",
                "error",
            ],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "stage": {"type": "integer", "minimum": 0},
                "action": {"type": "string"},
                "compensation": {"type": "string", "description": "Empty for none."},
                "pivot": {"type": "boolean"},
                "status": {"enum": list(StepStatus.values)},
                "attempts": {"type": "integer", "minimum": 0},
                "executed_at": _WHEN_OR_NULL,
                "compensated_at": _WHEN_OR_NULL,
                "error": {"type": "string"},
            },
        },
        "Intervention": {
            "type": "object",
            "description": "One operator action on the saga's trail.",
            "additionalProperties": False,
            "required": ["at", "by", "action", "step", "reason", "batch", "details"],
            "properties": {
                "at": _WHEN,
                "by": {"type": "string", "description": "Who asked."},
                "action": {"enum": list(Intervention.Action.values)},
                "step": {"type": "string", "description": "The step's name; empty for none."},
                "reason": {"type": "string"},
                "batch": {"type": "string", "description": "The re-drive; empty for none."},
                "details": {
                    "type": "object",
                    "description": "The saga's state before, and any input or output given.",
                },
            },
        },
        "SagaStatus": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "saga_id",
                "name",
                "key",
                "state",
                "error",
                "created_at",
                "updated_at",
                "completed_at",
                "definition",
                "version",
                "steps",
                "interventions",
            ],
            "properties": {
                "saga_id": {"type": "string"},
                "name": {"type": "string"},
                "key": {"type": "string", "description": "The business key; empty for none."},
                "state": _schema("SagaState"),
                "error": {"type": "string", "description": "Why it did not complete, if so."},
                "created_at": _WHEN,
                "updated_at": _WHEN,
                "completed_at": _WHEN_OR_NULL,
                "definition": {
                    "type": "string",
                    "description": "The SagaDefinition class that built it; empty for none.",
                },
                "version": {"type": "string", "description": "That definition's version."},
                "steps": {"type": "array", "items": _schema("Step")},
                "interventions": {"type": "array", "items": _schema("Intervention")},
            },
        },
        "ReasonBody": {
            "type": "object",
            "additionalProperties": False,
            "required": ["reason"],
            "properties": {"reason": _REASON},
        },
        "RetryStepBody": {
            "type": "object",
            "additionalProperties": False,
            "required": ["reason"],
            "properties": {
                "reason": _REASON,
                "input": _json_object("The input the step runs with; absent or null: its own."),
            },
        },
        "SkipStepBody": {
            "type": "object",
            "additionalProperties": False,
            "required": ["reason"],
            "properties": {
                "reason": _REASON,
                "output": _json_object(
                    "What the step's handler would have returned: later steps and "
                    "its compensation read it; absent or null: `{}`."
                ),
            },
        },
        "RedriveBody": _redrive_body(),
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
                "started_at": _WHEN,
                "sending_until": {**_WHEN, "description": "When its last saga is sent."},
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
        "StepReport": _step_report(),
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


def _redrive_body() -> dict[str, Any]:
    waiting = list(WAITING_FOR_OPERATOR)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["rate", "reason"],
        "properties": {
            "name": {
                **_text(validation.NAME_MAX_CHARS, pattern=_NO_NUL),
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
                **_text(validation.ERROR_MAX_CHARS, pattern=_NO_NUL),
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
                "minimum": interventions.MIN_RATE,
                "maximum": interventions.MAX_RATE,
                "description": "Sagas a second. The last saga must be sent within 366 days: "
                "a rate too slow for the sagas selected is refused (`400`).",
            },
            "reason": _REASON,
            "limit": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": REDRIVE_AT_ONCE,
                "description": f"How many sagas at most (default {REDRIVE_AT_ONCE:,}), written "
                "as an integer (`10`, not `10.0`).",
            },
        },
    }


def _step_report() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["step_id", "attempt", "status"],
        "properties": {
            "saga_id": {**_text(SAGA_ID_MAX_CHARS, min_chars=1), "description": "The saga."},
            "saga_name": {
                **_text(validation.NAME_MAX_CHARS, min_chars=1, pattern=LABEL_PATTERN),
                "description": "With `key`, stands for `saga_id`.",
            },
            "key": {
                **_text(KEY_MAX_CHARS, min_chars=1, pattern=LABEL_PATTERN),
                "description": "The saga's business key, with `saga_name`.",
            },
            "step_id": {
                **_text(validation.NAME_MAX_CHARS, min_chars=1),
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
            "output": _json_object("The step's output, for `completed`."),
            "error": {
                **_text(validation.ERROR_MAX_CHARS, pattern=_NO_NUL),
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
