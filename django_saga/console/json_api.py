"""The console's JSON endpoints: the saga list, one saga, and the operations."""

from __future__ import annotations

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
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
from .queries import filter_sagas, with_progress


class SagaListJsonView(JsonAccessMixin, View):
    """GET: sagas, newest first, filtered like the dashboard (``state``, ``name``, ``q``)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        state = request.GET.get("state", "")
        if state and state not in SagaState.values:
            return json_error(
                400, "bad_request", f"Unknown state {state!r}; one of {SagaState.values}"
            )
        queryset = with_progress(filter_sagas(Saga.objects.all(), request.GET)).order_by(
            "-created_at", "-pk"
        )
        paginator = Paginator(queryset, int(saga_settings.CONSOLE_PAGE_SIZE))
        try:
            page = paginator.page(request.GET.get("page", 1))
        except (EmptyPage, PageNotAnInteger):
            return json_error(404, "not_found", "No such page.")
        return JsonResponse(
            {
                "count": paginator.count,
                "page": page.number,
                "num_pages": paginator.num_pages,
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
                    for saga in page.object_list
                ],
            }
        )


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
            saga = perform(self.operation, saga_id)
        except SagaNotFound:
            return json_error(404, "not_found", f"No saga with id {saga_id!r}.")
        except InvalidStateTransition as exc:
            state = Saga.objects.filter(pk=saga_id).values_list("state", flat=True).first()
            return json_error(409, "invalid_state_transition", str(exc), state=state)
        return JsonResponse(status_json(saga), status=202)
