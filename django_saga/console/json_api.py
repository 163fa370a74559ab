"""The console's JSON endpoints: the saga list, one saga, and the operations."""

from __future__ import annotations

from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.urls import reverse
from django.views import View

from ..api import manager
from ..conf import saga_settings
from ..errors import InvalidStateTransition, SagaNotFound
from ..models import Saga, SagaState
from .access import JsonAccessMixin, json_error
from .formatting import status_json
from .operations import perform
from .paging import BadCursor, tally, window, without_cursor
from .queries import attach_progress, filter_sagas


class SagaListJsonView(JsonAccessMixin, View):
    """GET: sagas, newest first, filtered like the dashboard (``state``, ``name``, ``q``).

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
        queryset = filter_sagas(Saga.objects.all(), request.GET)
        try:
            page = window(queryset, request.GET, int(saga_settings.CONSOLE_PAGE_SIZE))
        except BadCursor as exc:
            return json_error(400, "bad_request", str(exc))
        return JsonResponse(
            {
                **tally(queryset).as_json(),
                "next": _page_url(request, "before", page.older),
                "previous": _page_url(request, "after", page.newer),
                "results": [
                    {
                        "saga_id": saga.pk,
                        "name": saga.name,
                        "state": saga.state,
                        "steps_done": saga.steps_done,  # type: ignore[attr-defined]
                        "steps_total": saga.steps_total,  # type: ignore[attr-defined]
                        "created_at": saga.created_at,
                        "updated_at": saga.updated_at,
                        "completed_at": saga.completed_at,
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
        try:
            saga = manager.get(saga_id)
        except SagaNotFound:
            return json_error(404, "not_found", f"No saga with id {saga_id!r}.")
        return JsonResponse(status_json(saga))


class OperationJsonView(JsonAccessMixin, View):
    """POST: run the operation; 202 with the saga's status, 404 or 409 otherwise."""

    def post(self, request: HttpRequest, saga_id: str) -> HttpResponse:
        assert self.operation is not None
        try:
            saga = perform(self.operation, saga_id, by=request.user, reason="")
        except SagaNotFound:
            return json_error(404, "not_found", f"No saga with id {saga_id!r}.")
        except InvalidStateTransition as exc:
            state = Saga.objects.filter(pk=saga_id).values_list("state", flat=True).first()
            return json_error(409, "invalid_state_transition", str(exc), state=state)
        return JsonResponse(status_json(saga), status=202)
