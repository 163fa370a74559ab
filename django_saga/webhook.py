"""The webhook through which outside services report a waiting step's result.

``POST`` a JSON object ``{"saga_id", "step_id", "status": "completed" |
"failed", "output", "error"}`` signed with ``SAGA['WEBHOOK_SECRET']``: the
header ``X-Saga-Signature`` carries ``sha256=`` and the hex HMAC-SHA256 of
the raw body. ``step_id`` may also be the step's name.

Answers: 200 recorded (``"recorded": false`` for a repeat), 400 malformed,
401 missing or bad signature, 404 unknown saga or step, 405 not a POST,
409 the step is not waiting, 503 no secret configured or the database is
unavailable (the sender should retry).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .conf import saga_settings
from .errors import SagaDefinitionError, SagaNotFound, StepNotWaiting
from .views import json_error

logger = logging.getLogger("django_saga.webhook")

SIGNATURE_HEADER = "X-Saga-Signature"
FIELDS = {"saga_id", "step_id", "status", "output", "error"}


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: what a sender computes."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_matches(body: bytes, header: str, secrets: list[str]) -> bool:
    """Whether ``header`` signs ``body`` with one of ``secrets`` (compared in constant time)."""
    matched = False
    for secret in secrets:
        # Compare against every secret, so timing does not tell which one matched.
        matched |= hmac.compare_digest(header.encode(), sign(body, secret).encode())
    return matched


def webhook_secrets() -> list[str]:
    """The accepted secrets: one string, or several while a secret is rotated."""
    value = saga_settings.WEBHOOK_SECRET
    values = [value] if isinstance(value, str) else list(value)
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
        secrets = webhook_secrets()
        if not secrets:
            return json_error(
                503, "webhook_disabled", "The webhook is off: SAGA['WEBHOOK_SECRET'] is not set."
            )
        body = request.body
        if not signature_matches(body, request.headers.get(SIGNATURE_HEADER, ""), secrets):
            logger.warning("Refused a step result with a missing or bad signature")
            return json_error(401, "bad_signature", f"Missing or bad {SIGNATURE_HEADER} header.")
        try:
            report = _parse(body)
        except ValueError as exc:
            return json_error(400, "malformed", str(exc))
        from .api import manager

        try:
            recorded = manager.record_outside_result(
                report["saga_id"],
                report["step_id"],
                report["status"],
                output=report.get("output"),
                error=report.get("error") or "",
            )
        except SagaNotFound as exc:
            return json_error(404, "not_found", str(exc))
        except StepNotWaiting as exc:
            return json_error(409, "not_waiting", str(exc))
        except SagaDefinitionError as exc:
            return json_error(400, "malformed", str(exc))
        except DatabaseError as exc:
            logger.warning("Could not record a step result: %s", exc)
            return json_error(503, "unavailable", "The database is unavailable; try again later.")
        logger.info(
            "Outside result saga=%s step=%s status=%s recorded=%s",
            report["saga_id"],
            report["step_id"],
            report["status"],
            recorded,
        )
        return JsonResponse(
            {
                "saga_id": report["saga_id"],
                "step_id": report["step_id"],
                "status": report["status"],
                "recorded": recorded,
            }
        )


def _parse(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"body must be a JSON object, got {type(data).__name__}")
    unknown = set(data) - FIELDS
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    for key in ("saga_id", "step_id"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"{key} must be a non-empty string")
    if data.get("status") not in ("completed", "failed"):
        raise ValueError(f"status must be 'completed' or 'failed', got {data.get('status')!r}")
    if data.get("output") is not None and not isinstance(data["output"], dict):
        raise ValueError("output must be a JSON object or null")
    if data.get("error") is not None and not isinstance(data["error"], str):
        raise ValueError("error must be a string or null")
    return data
