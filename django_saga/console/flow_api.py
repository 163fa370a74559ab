"""Flow control's JSON endpoints: the limited actions and the pauses in
force, and pausing or resuming actions and saga names.

Reading needs console access; pausing and resuming need
``django_saga.pause_actions`` too. An action takes ``{"action": PATTERN,
"reason": ...}`` or ``{"name": PATTERN, "reason": ...}`` and answers with
the pause: 400 for a body it cannot use, a missing reason or a bad pattern,
409 with the manager's sentence when it is paused already (or not paused),
413 for a body over Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View

from .. import actions
from ..actions.pauses import PAUSE_PERMISSION
from ..api import manager
from ..errors import InvalidStateTransition, SagaDefinitionError
from ..models import Pause
from .access import FlowGuard, JsonAccessMixin, json_error
from .json_api import BadBody, BodyTooLarge, json_body
from .waits import limit_rows


def pause_json(pause: Pause) -> dict[str, Any]:
    return {
        "id": pause.pk,
        "scope": pause.scope,
        "pattern": pause.pattern,
        "reason": pause.reason,
        "paused_by": pause.paused_by,
        "paused_at": pause.paused_at,
        "resumed_by": pause.resumed_by,
        "resumed_at": pause.resumed_at,
        "resume_reason": pause.resume_reason,
    }


def flow_document() -> dict[str, Any]:
    """The limited actions, what runs and waits for each, and the pauses in force."""
    return {
        "limits": [
            {
                "kind": row["kind"],
                "action": row["action"],
                "concurrency": row["limit"].concurrency,
                "per": row["limit"].per,
                "rate": row["limit"].rate.describe() if row["limit"].rate else None,
                "running": row["in_flight"],
                "runs_per_second": round(row["per_second"], 3),
                "waiting": row["waiting"],
                "paused": row["paused"],
            }
            for row in limit_rows()
        ],
        "pauses": [
            pause_json(p) for p in Pause.objects.filter(resumed_at__isnull=True).order_by("-id")
        ],
    }


class FlowJsonView(FlowGuard, JsonAccessMixin, View):
    """GET: the limited actions and the pauses in force."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return JsonResponse(flow_document())


class FlowActJsonView(FlowGuard, JsonAccessMixin, View):
    """POST: pause or resume (``act``) the actions or saga names a pattern names."""

    permission = PAUSE_PERMISSION
    act = ""

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            body = json_body(request, ("action", "name", "reason"))
            reason = actions.reason_text(body.get("reason"), required=True)
        except BodyTooLarge as exc:
            return json_error(413, "too_large", str(exc))
        except (BadBody, SagaDefinitionError) as exc:
            return json_error(400, "bad_request", str(exc))
        change = manager.pause if self.act == "pause" else manager.resume
        try:
            pause = change(
                action=body.get("action"), name=body.get("name"), by=request.user, reason=reason
            )
        except SagaDefinitionError as exc:
            return json_error(400, "bad_request", str(exc))
        except InvalidStateTransition as exc:
            return json_error(409, "invalid_state_transition", str(exc))
        return JsonResponse(pause_json(pause), status=201 if self.act == "pause" else 200)
