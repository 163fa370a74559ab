"""The operator console's URLs: ``path("sagas/", include("django_saga.urls"))``."""

from django.urls import path

from . import views, webhook

app_name = "django_saga"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("metrics/", views.MetricsView.as_view(), name="metrics"),
    path("webhook/", webhook.StepResultWebhookView.as_view(), name="webhook"),
    path("api/sagas/", views.SagaListJsonView.as_view(), name="api-list"),
    path("api/sagas/<str:saga_id>/", views.SagaStatusJsonView.as_view(), name="api-detail"),
    path(
        "api/sagas/<str:saga_id>/compensate/",
        views.OperationJsonView.as_view(operation=views.COMPENSATE),
        name="api-compensate",
    ),
    path(
        "api/sagas/<str:saga_id>/retry-compensation/",
        views.OperationJsonView.as_view(operation=views.RETRY_COMPENSATION),
        name="api-retry-compensation",
    ),
    path("<str:saga_id>/", views.SagaDetailView.as_view(), name="detail"),
    path(
        "<str:saga_id>/compensate/",
        views.OperationView.as_view(operation=views.COMPENSATE),
        name="compensate",
    ),
    path(
        "<str:saga_id>/compensate/confirm/",
        views.OperationConfirmView.as_view(operation=views.COMPENSATE),
        name="confirm-compensate",
    ),
    path(
        "<str:saga_id>/retry-compensation/",
        views.OperationView.as_view(operation=views.RETRY_COMPENSATION),
        name="retry-compensation",
    ),
    path(
        "<str:saga_id>/retry-compensation/confirm/",
        views.OperationConfirmView.as_view(operation=views.RETRY_COMPENSATION),
        name="confirm-retry-compensation",
    ),
]
