"""The webhook through which outside services report a waiting step's result.

``POST`` a JSON object ``{"saga_id", "step_id", "attempt", "report_token",
"status": "completed" | "failed", "output", "error"}``. ``step_id`` may also
be the step's name, and ``saga_name`` with ``key`` (the saga's business key,
an order number, say) may stand for ``saga_id``. ``attempt`` is the attempt
the result answers (the handler's ``step.attempts``), so that a result
captured for one attempt cannot be replayed against a later one.
``report_token`` is the handler's ``step.report_token``, unique to that
attempt of that step of that saga: a report by key must carry it, so that
it cannot complete a later saga that has the same key; a report by id may.
Two headers authenticate it: ``X-Saga-Timestamp`` (Unix seconds when it was
sent) and ``X-Saga-Signature`` (``sha256=`` and the hex HMAC-SHA256, keyed
with ``SAGA['WEBHOOK_SECRET']``, of the timestamp, a dot, and the raw body).
``signature_headers()`` computes both.

Answers: 200 recorded (``"recorded": false`` for a repeat), 400 malformed
(the body, or a Content-Length that is not a number), 401 missing or bad
signature, 404 unknown saga or step, 405 not a POST, 409 the step is not
waiting, the result answers another attempt, its ``report_token`` is not the
waiting step's, or the timestamp is outside ``SAGA['WEBHOOK_TOLERANCE']``,
413 a body over ``SAGA['WEBHOOK_MAX_BYTES']`` (refused before it is read),
503 the secret is not set or not valid, or the database is unavailable (the
sender should retry).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from . import clock
from .conf import saga_settings
from .console.access import json_error
from .console.parsing import read_json
from .errors import (
    ReportTokenMismatch,
    SagaDefinitionError,
    SagaNotFound,
    StaleResult,
    StepNotWaiting,
)

logger = logging.getLogger("django_saga.webhook")

SIGNATURE_HEADER = "X-Saga-Signature"
TIMESTAMP_HEADER = "X-Saga-Timestamp"
FIELDS = {
    "saga_id",
    "saga_name",
    "key",
    "step_id",
    "attempt",
    "report_token",
    "status",
    "output",
    "error",
}
#: The longest ``report_token`` looked at: a real one has ``REPORT_TOKEN_CHARS``.
TOKEN_MAX_CHARS = 200


class SecretMisconfigured(ValueError):
    """``SAGA['WEBHOOK_SECRET']`` is neither a string nor a list of strings."""


def sign(body: bytes, secret: str, timestamp: int | str) -> str:
    """The ``X-Saga-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers a sender adds to ``body``: its timestamp (default now) and signature."""
    when = int(clock.now().timestamp()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(when), SIGNATURE_HEADER: sign(body, secret, when)}


def signature_matches(body: bytes, timestamp: str, header: str, secrets: list[str]) -> bool:
    """Whether ``header`` signs ``timestamp`` and ``body`` with one of ``secrets``.

    Compared in constant time, against every secret, so that timing tells
    neither the signature nor which secret matched.
    """
    matched = False
    for secret in secrets:
        expected = sign(body, secret, timestamp).encode()
        matched |= hmac.compare_digest(header.encode(errors="replace"), expected)
    return matched


def webhook_secrets() -> list[str]:
    """The accepted secrets: one string, or several while a secret is rotated.

    Raises ``SecretMisconfigured`` (without showing the value) for anything
    else, which the system check also reports.
    """
    value = saga_settings.WEBHOOK_SECRET
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise SecretMisconfigured(
            "SAGA['WEBHOOK_SECRET'] must be a string or a list of strings, "
            f"got a {type(value).__name__}"
        )
    return [v for v in values if v]


@method_decorator(csrf_exempt, name="dispatch")
class StepResultWebhookView(View):
    """Records an outside service's result for a waiting step."""

    http_method_names = ["post"]

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = json_error(
            405, "method_not_allowed", "POST a signed JSON body to this endpoint."
        )
        response["Allow"] = "POST"
        return response

    def post(self, request: HttpRequest) -> JsonResponse:
        try:
            secrets = webhook_secrets()
        except SecretMisconfigured as exc:
            logger.error("Refused a step result: %s", exc)
            return json_error(503, "webhook_misconfigured", str(exc))
        if not secrets:
            return json_error(
                503, "webhook_disabled", "The webhook is off: SAGA['WEBHOOK_SECRET'] is not set."
            )
        body = _read_body(request, saga_settings.WEBHOOK_MAX_BYTES)
        if isinstance(body, JsonResponse):
            return body
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        signed = _TIMESTAMP.fullmatch(timestamp) is not None
        if not (signed and signature_matches(body, timestamp, signature, secrets)):
            logger.warning("Refused a step result with a missing or bad signature")
            return json_error(
                401,
                "bad_signature",
                f"Missing or bad {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header.",
            )
        skew = abs(clock.now().timestamp() - int(timestamp))
        tolerance = saga_settings.WEBHOOK_TOLERANCE
        if (bad := saga_settings.problem_with("WEBHOOK_TOLERANCE")) is not None:
            # Fail closed: a NaN or infinite tolerance would accept any timestamp.
            logger.error("Refused a step result: %s", bad)
            return json_error(503, "webhook_misconfigured", f"{bad}; no report is accepted.")
        if skew > tolerance:
            return json_error(
                409,
                "stale_timestamp",
                f"{TIMESTAMP_HEADER} is {skew:.0f}s away from this server's clock, "
                f"over the tolerance of {tolerance:g}s: sign the report again when you send it.",
            )
        try:
            report = _parse(body)
        except ValueError as exc:
            return json_error(400, "malformed", str(exc))
        from .api import manager

        try:
            saga_id = manager.resolve(
                report["saga_id"] if "saga_id" in report else (report["saga_name"], report["key"])
            )
            recorded = manager.record_outside_result(
                saga_id,
                report["step_id"],
                report["status"],
                output=report.get("output"),
                error=report.get("error") or "",
                attempt=report["attempt"],
                report_token=report.get("report_token"),
            )
        except SagaNotFound as exc:
            return json_error(404, "not_found", str(exc))
        except ReportTokenMismatch as exc:
            logger.warning("Refused a step result: %s", exc)
            return json_error(409, "token_mismatch", str(exc))
        except StaleResult as exc:
            return json_error(409, "stale_attempt", str(exc))
        except StepNotWaiting as exc:
            return json_error(409, "not_waiting", str(exc))
        except SagaDefinitionError as exc:
            return json_error(400, "malformed", str(exc))
        except DatabaseError as exc:
            logger.warning("Could not record a step result: %s", exc)
            return json_error(503, "unavailable", "The database is unavailable; try again later.")
        logger.info(
            "Outside result saga=%r step=%r attempt=%d status=%s recorded=%s",
            saga_id,
            report["step_id"],
            report["attempt"],
            report["status"],
            recorded,
        )
        return JsonResponse(
            {
                "saga_id": saga_id,
                "step_id": report["step_id"],
                "attempt": report["attempt"],
                "status": report["status"],
                "recorded": recorded,
            }
        )


#: Unix seconds, as digits: anything else cannot be a timestamp this side of year 33658.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
#: HTTP's Content-Length: ASCII digits only. ``str.isdigit()`` would also take
#: ``²`` (which ``int()`` refuses) and ``int()`` other scripts' digits.
_CONTENT_LENGTH = re.compile(r"[0-9]+")
_MAX_LENGTH_DIGITS = 18


def _read_body(request: HttpRequest, limit: int) -> bytes | JsonResponse:
    """The body, read only if it is at most ``limit`` bytes; else an answer saying why.

    The declared length is checked before anything is read, and no more than
    ``limit + 1`` bytes are read whatever it said, so a huge body costs
    neither memory nor a signature check.
    """
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if _CONTENT_LENGTH.fullmatch(declared) is None:
        return json_error(400, "malformed", f"Content-Length {declared[:20]!r} is not a number.")
    too_big = json_error(
        413,
        "too_large",
        f"The body is over the limit of {limit} bytes (SAGA['WEBHOOK_MAX_BYTES']).",
    )
    digits = declared.lstrip("0")
    # Python refuses to convert thousands of digits; this many are over any limit anyway.
    if len(digits) > _MAX_LENGTH_DIGITS or int(digits or "0") > limit:
        return too_big
    body = request.read(limit + 1)
    return too_big if len(body) > limit else body


def _parse(body: bytes) -> dict[str, Any]:
    data = read_json(body, "The body")  # an UnreadableJSON is a ValueError: a 400
    if not isinstance(data, dict):
        raise ValueError(f"body must be a JSON object, got {type(data).__name__}")
    unknown = set(data) - FIELDS
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in sorted(unknown)[:5])
        raise ValueError(f"unknown fields: {shown} (expected {', '.join(sorted(FIELDS))})")
    by_key = "saga_name" in data or "key" in data
    if by_key == ("saga_id" in data):
        raise ValueError("name the saga by saga_id, or by saga_name and key (not both)")
    for field in ("saga_name", "key", "step_id") if by_key else ("saga_id", "step_id"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise ValueError(f"{field} must be a non-empty string")
    token = data.get("report_token")
    if (by_key or token is not None) and (
        not isinstance(token, str) or not 0 < len(token) <= TOKEN_MAX_CHARS
    ):
        raise ValueError(
            "report_token must be the waiting step's step.report_token, handed to the "
            "service with the attempt"
            + (": a report by saga_name and key must carry it" if by_key else "")
        )
    attempt = data.get("attempt")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError("attempt must be a positive integer: the step's attempt this answers")
    if data.get("status") not in ("completed", "failed"):
        raise ValueError("status must be 'completed' or 'failed'")
    if data.get("output") is not None and not isinstance(data["output"], dict):
        raise ValueError("output must be a JSON object or null")
    if data.get("error") is not None and not isinstance(data["error"], str):
        raise ValueError("error must be a string or null")
    return data
