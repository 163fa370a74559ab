"""The operator console's URLs: ``path("sagas/", include("django_saga.urls"))``."""

from django.urls import path, register_converter

from . import webhook
from .console import json_api, metrics_view, pages
from .console.operations import COMPENSATE_SAGA, RETRY_SAGA_COMPENSATION, RETRY_STEP, SKIP_STEP
from .validation import NAME_MAX_CHARS


class SagaIdConverter:
    """A saga id as a URL segment: what an id column can hold, no NUL, no slash.

    Anything else is a 404 before a query runs (PostgreSQL would raise on a NUL).
    """

    regex = "[^/\x00]{1,26}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class StepConverter(SagaIdConverter):
    """A step's name or id as a URL segment: no NUL, no slash, no longer than a name."""

    regex = f"[^/\x00]{{1,{NAME_MAX_CHARS}}}"


register_converter(SagaIdConverter, "django_saga_id")
register_converter(StepConverter, "django_saga_step")

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
    path(
        "api/sagas/<django_saga_id:saga_id>/steps/<django_saga_step:step>/retry/",
        json_api.StepOperationJsonView.as_view(operation=RETRY_STEP),
        name="api-retry-step",
    ),
    path(
        "api/sagas/<django_saga_id:saga_id>/steps/<django_saga_step:step>/skip/",
        json_api.StepOperationJsonView.as_view(operation=SKIP_STEP),
        name="api-skip-step",
    ),
    path("api/redrive/", json_api.RedriveJsonView.as_view(), name="api-redrive"),
    path(json_api.OPENAPI_ROUTE, json_api.OpenApiJsonView.as_view(), name="api-openapi"),
    path(
        "api/redrive/<django_saga_id:batch>/",
        json_api.RedriveProgressJsonView.as_view(),
        name="api-redrive-progress",
    ),
    path("redrive/", pages.RedriveView.as_view(), name="redrive"),
    path(
        "redrive/<django_saga_id:batch>/",
        pages.RedriveProgressView.as_view(),
        name="redrive-progress",
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
    path(
        "<django_saga_id:saga_id>/steps/<django_saga_id:step_id>/retry-step/",
        pages.StepOperationView.as_view(operation=RETRY_STEP),
        name="retry-step",
    ),
    path(
        "<django_saga_id:saga_id>/steps/<django_saga_id:step_id>/skip-step/",
        pages.StepOperationView.as_view(operation=SKIP_STEP),
        name="skip-step",
    ),
]
