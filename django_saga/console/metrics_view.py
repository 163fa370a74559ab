"""Prometheus exposition in the console, for its users or a scraper's token."""

from __future__ import annotations

from django.http import (
    HttpRequest,
    HttpResponse,
)
from django.utils.decorators import method_decorator
from django.views import View

from .access import can_view_console, read_only_pages


@method_decorator(read_only_pages, name="dispatch")
class MetricsView(View):
    """Prometheus exposition: console users, or a scraper with ``METRICS_TOKEN``."""

    def get(self, request: HttpRequest) -> HttpResponse:
        from .. import metrics

        bearer = metrics.bearer_matches(request.headers.get("Authorization", ""))
        if not (bearer or can_view_console(request.user)):
            return HttpResponse("Forbidden\n", status=403, content_type="text/plain")

        if not metrics.AVAILABLE:
            return HttpResponse(
                metrics.MISSING + "\n", status=501, content_type="text/plain; charset=utf-8"
            )
        body, content_type = metrics.exposition()
        return HttpResponse(body, content_type=content_type)
