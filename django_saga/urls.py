"""The operator console's URLs: ``path("sagas/", include("django_saga.urls"))``."""

from django.urls import URLPattern, path, register_converter

from . import webhook
from .actions import ACTIONS, Action
from .console import flow_api, json_api, metrics_view, pages, schedule_api, task_api
from .console.schedules import SCHEDULE_ACTS
from .models import SCHEDULE_NAME_MAX_CHARS
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


class ScheduleNameConverter(SagaIdConverter):
    """A schedule's name as a URL segment: a slug no longer than its column."""

    regex = f"[-a-zA-Z0-9_]{{1,{SCHEDULE_NAME_MAX_CHARS}}}"


register_converter(SagaIdConverter, "django_saga_id")
register_converter(StepConverter, "django_saga_step")
register_converter(ScheduleNameConverter, "django_saga_schedule")

app_name = "django_saga"


def _action_urls(action: Action) -> list[URLPattern]:
    """An action's JSON endpoint and console pages, from its declaration."""
    saga = "<django_saga_id:saga_id>"
    api = saga + ("/steps/<django_saga_step:step>" if action.on_step else "")
    endpoint = path(
        f"api/sagas/{api}/{action.segment}/",
        json_api.ActionJsonView.as_view(action=action),
        name=f"api-{action.slug}",
    )
    if action.on_step:
        return [
            endpoint,
            path(
                f"{saga}/steps/<django_saga_id:step_id>/{action.slug}/",
                pages.StepActionView.as_view(action=action),
                name=action.slug,
            ),
        ]
    return [
        endpoint,
        path(f"{saga}/{action.slug}/", pages.ActionView.as_view(action=action), name=action.slug),
        path(
            f"{saga}/{action.slug}/confirm/",
            pages.ActionConfirmView.as_view(action=action),
            name=f"confirm-{action.slug}",
        ),
    ]


SCHEDULE = "schedules/<django_saga_schedule:name>"

#: The schedules' pages and JSON endpoints: the list, one, and each action on one.
_schedule_urls = [
    path("schedules/", pages.ScheduleListView.as_view(), name="schedules"),
    path(f"{SCHEDULE}/", pages.ScheduleDetailView.as_view(), name="schedule"),
    path("api/schedules/", schedule_api.ScheduleListJsonView.as_view(), name="api-schedules"),
    path(f"api/{SCHEDULE}/", schedule_api.ScheduleJsonView.as_view(), name="api-schedule"),
    *(
        pattern
        for act in SCHEDULE_ACTS
        for pattern in (
            path(
                f"{SCHEDULE}/{act.slug}/",
                pages.ScheduleActView.as_view(act=act),
                name=f"schedule-{act.slug}",
            ),
            path(
                f"api/{SCHEDULE}/{act.slug}/",
                schedule_api.ScheduleActJsonView.as_view(act=act),
                name=f"api-schedule-{act.slug}",
            ),
        )
    ),
]

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
    path("api/redrive/", json_api.RedriveJsonView.as_view(), name="api-redrive"),
    path(json_api.OPENAPI_ROUTE, json_api.OpenApiJsonView.as_view(), name="api-openapi"),
    path(
        "api/redrive/<django_saga_id:batch>/",
        json_api.RedriveProgressJsonView.as_view(),
        name="api-redrive-progress",
    ),
    path("redrive/", pages.RedriveView.as_view(), name="redrive"),
    path("tasks/", pages.InboxView.as_view(), name="tasks"),
    path("api/tasks/", task_api.TaskListJsonView.as_view(), name="api-tasks"),
    path("api/tasks/<django_saga_id:task_id>/", task_api.TaskJsonView.as_view(), name="api-task"),
    *(
        path(
            f"api/tasks/<django_saga_id:task_id>/{act}/",
            task_api.TaskActJsonView.as_view(act=act),
            name=f"api-task-{act}",
        )
        for act in task_api.BODIES
    ),
    path(
        "tasks/<django_saga_id:task_id>/",
        pages.TaskView.as_view(http_method_names=["get", "head"]),
        name="task",
    ),
    *(
        path(
            f"tasks/<django_saga_id:task_id>/{act}/",
            pages.TaskView.as_view(http_method_names=["post"]),
            {"act": act},
            name=f"task-{act}",
        )
        for act in pages.TASK_ACTS
    ),
    path("flow/", pages.FlowView.as_view(), name="flow"),
    path("api/flow/", flow_api.FlowJsonView.as_view(), name="api-flow"),
    path("api/flow/pause/", flow_api.FlowActJsonView.as_view(act="pause"), name="api-flow-pause"),
    path(
        "api/flow/resume/", flow_api.FlowActJsonView.as_view(act="resume"), name="api-flow-resume"
    ),
    path("flow/pause/", pages.FlowActView.as_view(act="pause"), name="flow-pause"),
    path("flow/resume/", pages.FlowActView.as_view(act="resume"), name="flow-resume"),
    path(
        "redrive/<django_saga_id:batch>/",
        pages.RedriveProgressView.as_view(),
        name="redrive-progress",
    ),
    # Before a saga's page, whose id could otherwise be "schedules".
    *_schedule_urls,
    path("<django_saga_id:saga_id>/", pages.SagaDetailView.as_view(), name="detail"),
    *(pattern for action in ACTIONS for pattern in _action_urls(action)),
]
