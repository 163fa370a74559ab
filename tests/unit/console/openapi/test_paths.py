"""django_saga.console.openapi.paths: the document's paths are the JSON views the
URLs route to, and every answer they list is one an exchange draws."""

from __future__ import annotations

import re

import pytest
from django.http import HttpResponse, JsonResponse
from django.urls import URLPattern
from jsonschema import ValidationError

from django_saga import urls, webhook
from django_saga.console import metrics_view
from django_saga.console.access import ConsoleAccessMixin, JsonAccessMixin
from tests.unit.console.openapi.helpers import (
    DOC,
    EXCHANGES,
    WEBHOOK,
    WITH_SETTINGS,
    assert_conforms,
)


def _json_views() -> dict[str, tuple[type, set[str]]]:
    """The routes of ``django_saga.urls`` whose views answer JSON, as document paths."""
    found: dict[str, tuple[type, set[str]]] = {}
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = pattern.callback.view_class  # type: ignore[attr-defined]
        if issubclass(view, ConsoleAccessMixin) or view is metrics_view.MetricsView:
            continue  # an HTML page, or Prometheus's text format
        assert issubclass(view, JsonAccessMixin | webhook.StepResultWebhookView), (
            f"{pattern.pattern} routes to {view.__name__}: a JSON view must be described in "
            "django_saga/console/openapi.py (and listed here if it is not JSON)"
        )
        route = re.sub(r"<[^:>]+:([^>]+)>", r"{\1}", str(pattern.pattern))
        methods = {m for m in ("get", "post") if hasattr(view, m)}
        found["/" + route] = (view, methods)
    return found


def test_the_document_describes_exactly_the_json_views_the_urls_route_to():
    views = _json_views()
    assert set(DOC["paths"]) == set(views)
    for path, (view, methods) in views.items():
        described = {key for key in DOC["paths"][path] if key != "parameters"}
        assert described == methods, f"{path} ({view.__name__})"


def test_every_answer_the_document_lists_is_called_for_above():
    called = {(path, method, status) for _, path, method, status, *_ in EXCHANGES + WITH_SETTINGS}
    called.add((WEBHOOK, "post", 503))
    listed = {
        (path, method, int(status))
        for path, operations in DOC["paths"].items()
        for method, operation in operations.items()
        if method != "parameters"
        for status in operation["responses"]
    }
    # A 405 is described once for every path (components.responses.MethodNotAllowed).
    assert listed == {entry for entry in called if entry[2] != 405}


@pytest.mark.parametrize(
    ("path", "method", "response"),
    [
        ("/api/sagas/", "get", JsonResponse({"error": "gone", "message": "x"}, status=403)),
        ("/api/sagas/", "get", JsonResponse({"error": "not_authenticated"}, status=403)),
        ("/api/sagas/", "get", JsonResponse({"error": "bad_request", "message": "x"}, status=409)),
        ("/api/sagas/", "get", JsonResponse({"count": 1, "count_exact": True}, status=200)),
        ("/api/sagas/{saga_id}/", "get", HttpResponse("<p>no</p>", status=200)),
        (
            "/api/sagas/",
            "get",
            JsonResponse({"error": "invalid_token", "message": "x"}, status=401),
        ),
    ],
    ids=["unknown-code", "no-message", "unlisted-status", "missing-fields", "html", "no-header"],
)
def test_an_answer_the_document_does_not_list_fails_the_check(path, method, response):
    """The check above is not vacuous: each of these breaks the document."""
    with pytest.raises((AssertionError, ValidationError)):
        assert_conforms(response, path, method)
