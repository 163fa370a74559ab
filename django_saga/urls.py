"""The operator console's URLs: ``path("sagas/", include("django_saga.urls"))``."""

from django.urls import path, register_converter

from . import views, webhook


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
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("metrics/", views.MetricsView.as_view(), name="metrics"),
    path("webhook/", webhook.StepResultWebhookView.as_view(), name="webhook"),
    path("api/sagas/", views.SagaListJsonView.as_view(), name="api-list"),
    path(
        "api/sagas/<django_saga_id:saga_id>/", views.SagaStatusJsonView.as_view(), name="api-detail"
    ),
    path(
        "api/sagas/<django_saga_id:saga_id>/compensate/",
        views.OperationJsonView.as_view(operation=views.COMPENSATE),
        name="api-compensate",
    ),
    path(
        "api/sagas/<django_saga_id:saga_id>/retry-compensation/",
        views.OperationJsonView.as_view(operation=views.RETRY_COMPENSATION),
        name="api-retry-compensation",
    ),
    path("<django_saga_id:saga_id>/", views.SagaDetailView.as_view(), name="detail"),
    path(
        "<django_saga_id:saga_id>/compensate/",
        views.OperationView.as_view(operation=views.COMPENSATE),
        name="compensate",
    ),
    path(
        "<django_saga_id:saga_id>/compensate/confirm/",
        views.OperationConfirmView.as_view(operation=views.COMPENSATE),
        name="confirm-compensate",
    ),
    path(
        "<django_saga_id:saga_id>/retry-compensation/",
        views.OperationView.as_view(operation=views.RETRY_COMPENSATION),
        name="retry-compensation",
    ),
    path(
        "<django_saga_id:saga_id>/retry-compensation/confirm/",
        views.OperationConfirmView.as_view(operation=views.RETRY_COMPENSATION),
        name="confirm-retry-compensation",
    ),
]
