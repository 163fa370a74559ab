"""The operator console's URLs: ``path("sagas/", include("django_saga.urls"))``."""

from django.urls import path, register_converter

from . import webhook
from .console import json_api, metrics_view, pages
from .console.operations import COMPENSATE_SAGA, RETRY_SAGA_COMPENSATION


class SagaIdConverter:
    """A saga id as a URL segment: what an id column can hold, no NUL, no slash.

    Anything else is a 404 before a query runs (PostgreSQL would raise on a NUL).
    """

    regex = "[^/\x00]{1,26}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SagaIdConverter, "django_saga_id")

app_name = "django_saga"

urlpatterns = [
    path("", pages.DashboardView.as_view(), name="dashboard"),
    path("metrics/", metrics_view.MetricsView.as_view(), name="metrics"),
    path("webhook/", webhook.StepResultWebhookView.as_view(), name="webhook"),
    path("api/sagas/", json_api.SagaListJsonView.as_view(), name="api-list"),
    path(
        "api/sagas/<django_saga_id:saga_id>/",
        json_api.SagaStatusJsonView.as_view(),
        name="api-detail",
    ),
    path(
        "api/sagas/<django_saga_id:saga_id>/compensate/",
        json_api.OperationJsonView.as_view(operation=COMPENSATE_SAGA),
        name="api-compensate",
    ),
    path(
        "api/sagas/<django_saga_id:saga_id>/retry-compensation/",
        json_api.OperationJsonView.as_view(operation=RETRY_SAGA_COMPENSATION),
        name="api-retry-compensation",
    ),
    path("<django_saga_id:saga_id>/", pages.SagaDetailView.as_view(), name="detail"),
    path(
        "<django_saga_id:saga_id>/compensate/",
        pages.OperationView.as_view(operation=COMPENSATE_SAGA),
        name="compensate",
    ),
    path(
        "<django_saga_id:saga_id>/compensate/confirm/",
        pages.OperationConfirmView.as_view(operation=COMPENSATE_SAGA),
        name="confirm-compensate",
    ),
    path(
        "<django_saga_id:saga_id>/retry-compensation/",
        pages.OperationView.as_view(operation=RETRY_SAGA_COMPENSATION),
        name="retry-compensation",
    ),
    path(
        "<django_saga_id:saga_id>/retry-compensation/confirm/",
        pages.OperationConfirmView.as_view(operation=RETRY_SAGA_COMPENSATION),
        name="confirm-retry-compensation",
    ),
]
