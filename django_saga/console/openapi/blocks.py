"""The pieces every part of the document is made of: error codes, references,
refusals, text schemas, path parameters."""

from __future__ import annotations

from typing import Any

from ... import validation
from ...actions import REASON_MAX_CHARS
from ...models import SAGA_ID_MAX_CHARS

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
    400: ("bad_request", "invalid_form"),
    401: ("invalid_token",),
    403: ("not_authenticated", "permission_denied", "csrf_failed", "not_offered", "not_allowed"),
    404: ("not_found",),
    405: ("method_not_allowed",),
    409: ("invalid_state_transition", "cannot_start", "task_closed"),
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

JSON_TYPE = "application/json"


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def schema_ref(name: str) -> dict[str, str]:
    return ref("schemas", name)


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON_TYPE: {"schema": schema}}


def error_body(codes: tuple[str, ...], **extra: dict[str, Any]) -> dict[str, Any]:
    """The error body with ``error`` one of ``codes`` (and ``extra`` fields)."""
    return {
        "allOf": [schema_ref("Error")],
        "properties": {"error": {"enum": list(codes)}, **extra},
    }


def refusal(description: str, codes: tuple[str, ...], **extra: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": json_content(error_body(codes, **extra))}


NOT_FOUND_PAGE = {
    "text/html": {
        "schema": {"type": "string"},
    }
}


def not_found(what: str) -> dict[str, Any]:
    return {
        "description": f"{what} (`not_found`). A value no URL can hold matches no route "
        "and gets the project's own 404 page, HTML by default.",
        "content": {**json_content(error_body(API_ERRORS[404])), **NOT_FOUND_PAGE},
    }


READ_SECURITY: list[dict[str, list[str]]] = [{"bearerToken": []}, {"sessionCookie": []}]
WRITE_SECURITY: list[dict[str, list[str]]] = [
    {"bearerToken": []},
    {"sessionCookie": [], "csrfToken": []},
]


def read_refusals() -> dict[str, Any]:
    return {"401": ref("responses", "InvalidToken"), "403": ref("responses", "ReadForbidden")}


def write_refusals() -> dict[str, Any]:
    return {
        "400": ref("responses", "BadRequest"),
        "401": ref("responses", "InvalidToken"),
        "403": ref("responses", "WriteForbidden"),
        "413": ref("responses", "TooLarge"),
    }


def closed(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    """An object with exactly these properties, all of them required."""
    return {
        "type": "object",
        **({"description": description} if description else {}),
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


def text_schema(max_chars: int | None = None, *, min_chars: int = 0, **more: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", **more}
    if min_chars:
        schema["minLength"] = min_chars
    if max_chars is not None:
        schema["maxLength"] = max_chars
    return schema


WHEN = {"type": "string", "format": "date-time"}
WHEN_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
#: What no URL segment holds: a slash or a NUL character.
SEGMENT = "^[^/\\u0000]+$"
#: Text a list filter may hold: anything but a NUL character.
NO_NUL = "^[^\\u0000]*$"


def path_parameter(name: str, max_chars: int, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": text_schema(max_chars, min_chars=1, pattern=SEGMENT),
    }


SAGA_ID = path_parameter(
    "saga_id", SAGA_ID_MAX_CHARS, "The saga's id (a ULID, as the list and its `url` give it)."
)
STEP = path_parameter(
    "step", validation.NAME_MAX_CHARS, "The step's name, or its id (as the saga's status gives it)."
)
BATCH = path_parameter("batch", SAGA_ID_MAX_CHARS, "The re-drive's id, its `batch`.")

#: What a reason may not hold (``validation.PROSE``): control characters but
#: tab and line ends, and the bidirectional controls and line separators.
NOT_PROSE = (
    "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f"
    "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029"
)
#: What a label (a saga's name, a key: ``validation.LABEL``) may not hold:
#: every control character, and the same bidirectional controls.
NOT_LABEL = (
    "\\u0000-\\u001f\\u007f-\\u009f"
    "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029"
)


def not_blank(excluded: str) -> str:
    """A pattern for text free of ``excluded``, with a character that is not white space."""
    return f"^[^{excluded}]*[^{excluded}\\s][^{excluded}]*$"


#: A reason: prose with at least one character that is not white space.
PROSE_PATTERN = not_blank(NOT_PROSE)
#: A saga's name or a business key, as the webhook looks it up.
LABEL_PATTERN = not_blank(NOT_LABEL)

REASON = text_schema(
    REASON_MAX_CHARS,
    min_chars=1,
    pattern=PROSE_PATTERN,
    description="Why: the ticket, what was fixed, who agreed. Required, and not blank: "
    "it goes on the saga's trail with the user's name. Tabs and line ends are "
    "allowed; other control characters and bidirectional controls are not.",
)


def json_object(description: str) -> dict[str, Any]:
    return {
        "description": description + " Within `SAGA['MAX_JSON_BYTES']` and "
        "`SAGA['MAX_JSON_DEPTH']`.",
        "anyOf": [schema_ref("JsonObject"), {"type": "null"}],
    }
