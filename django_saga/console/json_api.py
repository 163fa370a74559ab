"""The console's JSON endpoints: the saga list, one saga, the operations, re-drives.

The operations take a JSON object as their body (an empty body is an empty
object) and answer 202 with the saga's status, 400 for a body they cannot
use (or a missing reason), 403 without the operation's permission, 404 for
an unknown saga or step, 409 with the sentence saying why when the saga's
state does not allow it, and 413 for a body over Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE``. ``openapi.document()`` describes every
answer; ``OpenApiJsonView`` serves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db.models import Q
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.views import View

from .. import actions, clock, validation
from ..api import manager
from ..conf import saga_settings
from ..errors import InvalidStateTransition, SagaDefinitionError, SagaNotFound
from ..models import Saga, SagaState, SagaStep
from ..serialise import saga_document, saga_json
from . import openapi
from .access import NOT_A_FORM, JsonAccessMixin, json_error, too_large
from .formatting import json_kind
from .paging import BadCursor, tally, window, without_cursor
from .parsing import UnreadableJSON, read_json
from .queries import (
    REDRIVE_AT_ONCE,
    BadFilter,
    attach_progress,
    filter_sagas,
    redrive_report,
    saga_with_steps,
)

#: Content types whose body Django parses as a form.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class BadBody(ValueError):
    """A request body the endpoint cannot use; the message says why."""


class BodyTooLarge(BadBody):
    """A request body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``: a 413, not a 400."""


def json_body(request: HttpRequest, fields: Sequence[str]) -> dict[str, Any]:
    """The body as a JSON object holding only ``fields`` (an empty body: ``{}``).

    Django refuses a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, a form of too
    many fields and a malformed multipart body by raising; each is a
    ``BadBody`` here, so that the answer is JSON like every other refusal.
    """
    try:
        if request.content_type in FORM_TYPES:
            # An empty form is an empty body (``curl -d ''``); fields must come as JSON.
            if request.POST or request.FILES:
                raise BadBody(NOT_A_FORM)
            return {}
        raw = request.body
    except RequestDataTooBig:
        raise BodyTooLarge(too_large()) from None
    except (TooManyFieldsSent, TooManyFilesSent, MultiPartParserError):
        raise BadBody(NOT_A_FORM) from None
    if not raw.strip():
        return {}
    try:
        body = read_json(raw, "The body")
    except UnreadableJSON as exc:
        raise BadBody(f"{exc}.") from exc
    if not isinstance(body, dict):
        raise BadBody(f"The body must be a JSON object, not {json_kind(body)}.")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadBody(
            f"Unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
            f"this endpoint takes {', '.join(map(repr, fields))}."
        )
    return body


class SagaListJsonView(JsonAccessMixin, View):
    """GET: sagas, newest first, filtered like the dashboard (``state``, ``name``,
    ``key``, ``q``).

    Paged by cursor: ``next`` and ``previous`` are the URLs of the older and
    the newer page (``before``/``after`` a saga id). ``count`` is exact when
    ``count_exact`` is true, PostgreSQL's estimate otherwise.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        state = request.GET.get("state", "")
        if state and state not in SagaState.values:
            return json_error(
                400, "bad_request", f"Unknown state {state!r}; one of {SagaState.values}"
            )
        if "page" in request.GET:
            return json_error(
                400,
                "bad_request",
                "Pages are followed by cursor: use the 'next' and "
                "'previous' URLs (parameters 'before' and 'after'), not 'page'.",
            )
        try:
            queryset = filter_sagas(Saga.objects.all(), request.GET)
            page = window(queryset, request.GET, int(saga_settings.CONSOLE_PAGE_SIZE))
        except (BadFilter, BadCursor) as exc:
            return json_error(400, "bad_request", str(exc))
        return JsonResponse(
            {
                **tally(queryset).as_json(),
                "next": _page_url(request, "before", page.older),
                "previous": _page_url(request, "after", page.newer),
                "results": [
                    {
                        **saga_json(saga),
                        "steps_done": saga.steps_done,  # type: ignore[attr-defined]
                        "steps_total": saga.steps_total,  # type: ignore[attr-defined]
                        "url": reverse("django_saga:api-detail", args=[saga.pk]),
                    }
                    for saga in attach_progress(page.rows)
                ],
            }
        )


def _page_url(request: HttpRequest, key: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = without_cursor(request.GET)
    params[key] = cursor
    return f"{request.path}?{params.urlencode()}"


class SagaStatusJsonView(JsonAccessMixin, View):
    """GET: one saga and its steps."""

    def get(self, request: HttpRequest, saga_id: str) -> HttpResponse:
        saga = saga_with_steps(saga_id)
        if saga is None:
            return json_error(404, "not_found", f"No saga with id {saga_id!r}.")
        return JsonResponse(
            saga_document(saga, saga.interventions.order_by("id"), saga.children.order_by("pk"))
        )


class ActionJsonView(JsonAccessMixin, View):
    """POST ``{"reason": ...}``, plus the action's JSON object if it takes one
    (``{"input": {...}}`` to retry a step: none, its own; ``{"output": {...}}``
    to skip one: none, ``{}``): run the saga's ``action`` (the reason is
    required). A step action's URL names the step by name or id."""

    def post(self, request: HttpRequest, saga_id: str, step: str = "") -> HttpResponse:
        action = self.action
        assert action is not None
        if not Saga.objects.filter(pk=saga_id).exists():
            return json_error(404, "not_found", f"No saga with id {saga_id!r}.")
        if action.on_step:
            name = (
                SagaStep.objects.filter(Q(name=step) | Q(pk=step), saga_id=saga_id)
                .values_list("name", flat=True)
                .first()
            )
            if name is None:
                return json_error(404, "not_found", f"Saga {saga_id} has no step {step!r}.")
            step = name
        fields = ("reason", action.data.key) if action.data is not None else ("reason",)
        try:
            body = json_body(request, fields)
            reason = actions.reason_text(body.get("reason"))
            data = None
            if action.data is not None:
                what = f"The {action.data.key} of step {step!r}"
                data = actions.json_value(body.get(action.data.key), what)
        except BodyTooLarge as exc:
            return json_error(413, "too_large", str(exc))
        except (BadBody, SagaDefinitionError) as exc:
            return json_error(400, "bad_request", str(exc))
        try:
            saga = manager.act(action, saga_id, step, data, by=request.user, reason=reason)
        except SagaNotFound as exc:
            return json_error(404, "not_found", str(exc))
        except InvalidStateTransition as exc:
            state = Saga.objects.filter(pk=saga_id).values_list("state", flat=True).first()
            return json_error(409, "invalid_state_transition", str(exc), state=state)
        except SagaDefinitionError as exc:
            return json_error(400, "bad_request", str(exc))
        document = saga_document(
            saga, saga.interventions.order_by("id"), saga.children.order_by("pk")
        )
        return JsonResponse(document, status=202)


class RedriveJsonView(JsonAccessMixin, View):
    """POST: retry, paced, the sagas waiting for an operator that the body selects.

    ``{"name", "state", "error", "older_than", "rate", "reason", "limit"}``:
    ``state`` one of ``failed``, ``halted``, ``compensation_failed`` (or a
    list of them; all three if absent), ``older_than`` an age such as
    ``"30m"``, ``rate`` sagas a second (required), ``limit`` how many at
    most (up to ``REDRIVE_AT_ONCE``). Answers 202 with the re-drive.
    """

    permission = actions.REDRIVE_PERMISSION
    purpose = "re-drive sagas"
    fields = ("name", "state", "error", "older_than", "rate", "reason", "limit")

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            body = json_body(request, self.fields)
            selection = actions.select(
                name=_optional_text(body, "name"),
                states=_states(body.get("state")),
                error=_optional_text(body, "error"),
                older_than=_age(body.get("older_than")),
            )
            rate = actions.rate_value(body.get("rate"))
            reason = actions.reason_text(body.get("reason"))
            limit = _limit(body.get("limit"))
        except BodyTooLarge as exc:
            return json_error(413, "too_large", str(exc))
        except (BadBody, SagaDefinitionError) as exc:
            return json_error(400, "bad_request", str(exc))
        chosen = list(selection.values_list("pk", flat=True)[: limit + 1])
        try:
            redrive = manager.redrive(chosen[:limit], rate=rate, by=request.user, reason=reason)
        except SagaDefinitionError as exc:  # a blank reason, a rate too slow for so many
            return json_error(400, "bad_request", str(exc))
        progress = None
        if redrive.scheduled:
            progress = reverse("django_saga:api-redrive-progress", args=[redrive.batch])
        return JsonResponse(
            {
                "batch": redrive.batch,
                "rate": redrive.rate,
                "scheduled": len(redrive.scheduled),
                "refused": [
                    {"saga_id": saga_id, "reason": why} for saga_id, why in redrive.refused
                ],
                "seconds": redrive.seconds,
                # More sagas match than this request sent: send another for them.
                "more": len(chosen) > limit,
                "progress_url": progress,
            },
            status=202,
        )


def _optional_text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    return validation.text(value, key, None, blank=True).strip()


def _states(value: Any) -> tuple[str, ...]:
    """``state`` as given: absent, ``""`` or ``"all"`` for all three, a state, or a list."""
    if value is None or value in ("", "all"):
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(state, str) for state in value):
        return tuple(value)
    raise SagaDefinitionError(f"state must be a state or a list of states, not {json_kind(value)}")


def _age(value: Any) -> timedelta | None:
    """``older_than``: an age such as ``"30m"``, or a number of seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = validation.seconds(value, "older_than", allow_none=False)
        assert seconds is not None
        return timedelta(seconds=seconds)
    return validation.age(value, "older_than")


def _limit(value: Any) -> int:
    if value is None:
        return REDRIVE_AT_ONCE
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= REDRIVE_AT_ONCE:
        raise SagaDefinitionError(
            f"limit must be a whole number from 1 to {REDRIVE_AT_ONCE}, got {value!r}"
        )
    return value


class RedriveProgressJsonView(JsonAccessMixin, View):
    """GET: a re-drive's sagas by state now, and whether they are still being retried."""

    def get(self, request: HttpRequest, batch: str) -> HttpResponse:
        report = redrive_report(batch)
        if report is None:
            return json_error(404, "not_found", f"No re-drive {batch!r}.")
        return JsonResponse(
            {
                "batch": report.batch,
                "by": report.by,
                "reason": report.reason,
                "started_at": report.started_at,
                "sending_until": report.sending_until,
                "sagas": report.sagas,
                "states": report.counts,
                "under_way": report.under_way(clock.now()),
            }
        )


#: Where ``django_saga.urls`` serves the document, below the console's prefix.
OPENAPI_ROUTE = "api/openapi.json"


class OpenApiJsonView(JsonAccessMixin, View):
    """GET: the OpenAPI document of this API and the webhook, as this project serves them.

    Readable by whoever may view the console: it describes no saga, but it
    says where the console is mounted and that django-saga runs there, which
    an anonymous caller has no need to know. The documentation site has the
    same document for a provider who implements the webhook.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        prefix = request.path.removesuffix(OPENAPI_ROUTE).rstrip("/") or "/"
        return JsonResponse(
            openapi.document(
                server=prefix,
                session_cookie=settings.SESSION_COOKIE_NAME,
                csrf_cookie=settings.CSRF_COOKIE_NAME,
                csrf_header=_header_name(settings.CSRF_HEADER_NAME),
            )
        )


def _header_name(meta_key: str) -> str:
    """``HTTP_X_CSRFTOKEN`` (a ``request.META`` key) as a client writes it: ``X-CSRFToken``."""
    if meta_key == "HTTP_X_CSRFTOKEN":
        return openapi.DEFAULT_CSRF_HEADER
    name = meta_key.removeprefix("HTTP_")
    return "-".join(part.capitalize() for part in name.split("_"))
