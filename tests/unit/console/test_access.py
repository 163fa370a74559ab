"""Who may use the console and how: logging in, the permissions each door needs,
CSRF on the pages and the JSON API, no framing, and the database its pages read.

The "replica" alias is the test database seen through connections of its own
(``TEST: MIRROR``): which connection ran a query tells where it was sent.
"""

from __future__ import annotations

import re

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_saga.models import Intervention, OutboxMessage, Saga, Schedule
from tests.unit.console.helpers import (
    COMPENSATE,
    EVERYTHING,
    REDRIVE,
    RETRY_STEP,
    SCHEDULES,
    SKIP_STEP,
    VIEW,
    api,
    build_saga,
    halted_saga,
    logged_in,
    make_user,
    post_json,
    state_of,
    step_of,
    step_page,
    urls_of,
)
from tests.unit.schedules.helpers import make


# -- who may use the console ----------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("page", ["dashboard", "detail", "confirm"])
def test_anonymous_users_are_sent_to_the_login_page(client, settings, page):
    settings.LOGIN_URL = "/login/"
    url = urls_of(build_saga())[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.django_db
def test_anonymous_post_to_compensate_changes_nothing(client):
    saga = build_saga("failed")
    response = client.post(reverse("django_saga:compensate", args=[saga.pk]))
    assert response.status_code == 302 and "login" in response["Location"]
    assert state_of(saga) == "failed"


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["api-list", "api-detail"])
def test_anonymous_json_requests_get_a_json_403(client, endpoint):
    response = client.get(urls_of(build_saga())[endpoint])
    assert response.status_code == 403
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["dashboard", "detail", "confirm", "api-list", "api-detail"])
def test_staff_without_the_view_permission_gets_403(django_user_model, page):
    user = make_user(django_user_model, COMPENSATE)
    response = logged_in(user).get(urls_of(build_saga())[page])
    assert response.status_code == 403


@pytest.mark.django_db
def test_a_user_without_permission_cannot_compensate_through_any_endpoint(django_user_model):
    saga = build_saga("failed")
    for user in (
        make_user(django_user_model, name="nobody"),
        make_user(django_user_model, VIEW, name="viewer"),
    ):
        client = logged_in(user)
        html = client.post(reverse("django_saga:compensate", args=[saga.pk]))
        api = client.post(reverse("django_saga:api-compensate", args=[saga.pk]))
        assert html.status_code == 403
        assert api.status_code == 403 and api.json()["error"] == "permission_denied"
    assert state_of(saga) == "failed"
    assert not OutboxMessage.objects.filter(saga=saga).exists()


@pytest.mark.django_db
def test_the_console_is_for_staff_unless_configured_otherwise(django_user_model, settings):
    user = make_user(django_user_model, VIEW, staff=False)
    client = logged_in(user)
    assert client.get(reverse("django_saga:dashboard")).status_code == 403
    settings.SAGA = {**settings.SAGA, "CONSOLE_STAFF_ONLY": False}
    assert client.get(reverse("django_saga:dashboard")).status_code == 200


@pytest.mark.django_db
def test_the_view_permission_is_configurable(django_user_model, settings):
    client = logged_in(make_user(django_user_model))
    assert client.get(reverse("django_saga:dashboard")).status_code == 403
    settings.SAGA = {**settings.SAGA, "CONSOLE_PERMISSION": ""}
    assert client.get(reverse("django_saga:dashboard")).status_code == 200
    settings.SAGA = {**settings.SAGA, "CONSOLE_PERMISSION": "django_saga.compensate_saga"}
    assert client.get(reverse("django_saga:dashboard")).status_code == 403


@pytest.mark.django_db
def test_get_on_the_compensate_endpoints_is_405(operator):
    saga = build_saga("failed")
    client = logged_in(operator)
    html = client.get(reverse("django_saga:compensate", args=[saga.pk]))
    api = client.get(reverse("django_saga:api-compensate", args=[saga.pk]))
    assert html.status_code == 405
    assert api.status_code == 405
    assert api["Allow"] == "POST"
    assert api.json()["error"] == "method_not_allowed"
    assert state_of(saga) == "failed"


# -- a permission beyond console access -----------------------------------
@pytest.mark.django_db
def test_retry_endpoint_needs_its_own_permission(django_user_model):
    user = make_user(django_user_model, VIEW, COMPENSATE)
    broken = build_saga("compensation_failed")
    client = logged_in(user)
    response = client.post(reverse("django_saga:api-retry-compensation", args=[broken.pk]))
    assert response.status_code == 403
    assert (
        client.post(reverse("django_saga:retry-compensation", args=[broken.pk])).status_code == 403
    )
    assert state_of(broken) == "compensation_failed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("operation", "permission"), [("retry-step", RETRY_STEP), ("skip-step", SKIP_STEP)]
)
def test_each_step_operation_needs_its_own_permission(django_user_model, operation, permission):
    saga = halted_saga()
    others = [perm for perm in EVERYTHING if perm != permission]
    client = logged_in(make_user(django_user_model, *others))
    page = step_page(operation, saga, "ship")
    assert client.get(page).status_code == 403
    assert client.post(page, {"reason": "r", "step_json": "{}"}).status_code == 403
    refused = post_json(client, api(operation.removesuffix("-step"), saga, "ship"), {"reason": "r"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "permission_denied"
    assert permission in refused.json()["message"]
    assert step_of(saga, "ship").status == "failed"
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_re_driving_needs_its_own_permission(django_user_model):
    halted_saga()
    others = [perm for perm in EVERYTHING if perm != REDRIVE]
    client = logged_in(make_user(django_user_model, *others))
    assert client.get(reverse("django_saga:redrive")).status_code == 403
    form = {"rate": "5", "reason": "r", "run": "1"}
    assert client.post(reverse("django_saga:redrive"), form).status_code == 403
    refused = post_json(client, reverse("django_saga:api-redrive"), {"rate": 5})
    assert refused.status_code == 403 and REDRIVE in refused.json()["message"]
    assert 'id="redrive-link"' not in client.get(reverse("django_saga:dashboard")).content.decode()
    assert not Intervention.objects.exists()
    assert Saga.objects.get().state == "halted"


# -- CSRF -----------------------------------------------------------------
@pytest.mark.django_db
def test_a_post_without_a_csrf_token_is_refused(operator, csrf_middleware):
    saga = build_saga("failed")
    client = logged_in(operator, enforce_csrf_checks=True)
    html = client.post(reverse("django_saga:compensate", args=[saga.pk]))
    api = client.post(reverse("django_saga:api-compensate", args=[saga.pk]))
    assert html.status_code == 403
    assert api.status_code == 403 and api.json()["error"] == "csrf_failed"
    assert state_of(saga) == "failed"


@pytest.mark.django_db
def test_a_post_with_the_csrf_token_of_the_confirmation_page_goes_through(
    operator, csrf_middleware
):
    saga = build_saga("failed")
    client = logged_in(operator, enforce_csrf_checks=True)
    page = client.get(reverse("django_saga:confirm-compensate", args=[saga.pk]))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token is not None
    response = client.post(
        reverse("django_saga:compensate", args=[saga.pk]),
        {"csrfmiddlewaretoken": token[1], "reason": "ticket 12"},
    )
    assert response.status_code == 302
    assert state_of(saga) == "compensating"


@pytest.mark.django_db
def test_the_json_endpoint_takes_the_csrf_token_in_a_header(operator, csrf_middleware):
    saga = build_saga("failed")
    client = logged_in(operator, enforce_csrf_checks=True)
    client.get(reverse("django_saga:confirm-compensate", args=[saga.pk]))
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("django_saga:api-compensate", args=[saga.pk]),
        {"reason": "asked by the customer"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 202
    assert state_of(saga) == "compensating"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("&".join(f"f{i}=1" for i in range(1100)), "application/x-www-form-urlencoded", 400),
        ("--x\r\n", "multipart/form-data", 400),
        ("reason=" + "r" * 3000, "application/x-www-form-urlencoded", 413),
    ],
    ids=["too-many-fields", "multipart-without-boundary", "over-the-upload-limit"],
)
def test_a_session_post_django_cannot_read_is_refused_in_json_by_the_csrf_check(
    operator, settings, body, content_type, status
):
    """The CSRF check reads a form body for its token; what Django refuses to
    read is answered in JSON there, not with Django's HTML page."""
    if status == 413:
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2500
    saga = build_saga("failed")
    client = logged_in(operator, enforce_csrf_checks=True)
    client.get(reverse("django_saga:confirm-compensate", args=[saga.pk]))
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("django_saga:api-compensate", args=[saga.pk]),
        body,
        content_type=content_type,
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["message"]
    assert state_of(saga) == "failed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        lambda saga: reverse("django_saga:dashboard"),
        lambda saga: reverse("django_saga:detail", args=[saga.pk]),
        lambda saga: reverse("django_saga:confirm-compensate", args=[saga.pk]),
        lambda saga: reverse("django_saga:api-detail", args=[saga.pk]),
    ],
    ids=["dashboard", "detail", "confirm-compensate", "json"],
)
def test_console_pages_deny_framing_without_the_projects_middleware(django_user_model, path):
    from django.conf import settings as django_settings

    assert not any("XFrameOptions" in m for m in django_settings.MIDDLEWARE)
    user = make_user(django_user_model, VIEW, COMPENSATE)
    response = logged_in(user).get(path(build_saga("failed")))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"


# -- the pages on a read replica (CONSOLE_DATABASE) -----------------------
ROUTER = "django_saga.routers.ConsoleReadRouter"


@pytest.fixture
def on_replica(settings) -> None:
    settings.DATABASE_ROUTERS = [ROUTER]
    settings.SAGA = {**settings.SAGA, "CONSOLE_DATABASE": "replica"}


class Queries:
    """The SQL each alias ran, django-saga's tables only."""

    def __init__(self) -> None:
        self.captured = {
            alias: CaptureQueriesContext(connections[alias]) for alias in ("default", "replica")
        }

    def __enter__(self) -> Queries:
        for capture in self.captured.values():
            capture.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for capture in self.captured.values():
            capture.__exit__(None, None, None)

    def on(self, alias: str) -> list[str]:
        return [
            q["sql"] for q in self.captured[alias].captured_queries if "django_saga_" in q["sql"]
        ]


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_the_pages_read_the_replica_and_nothing_of_the_sagas_from_the_primary(
    django_user_model, on_replica
):
    saga = build_saga("failed")
    client = logged_in(make_user(django_user_model, VIEW, COMPENSATE))
    pages = [
        reverse("django_saga:dashboard"),
        reverse("django_saga:dashboard") + "?q=ord",
        reverse("django_saga:detail", args=[saga.pk]),
        reverse("django_saga:confirm-compensate", args=[saga.pk]),
        reverse("django_saga:api-list"),
        reverse("django_saga:api-detail", args=[saga.pk]),
        reverse("django_saga:metrics"),
    ]
    for url in pages:
        with Queries() as seen:
            response = client.get(url)
        assert response.status_code in (200, 501), (url, response.status_code)  # 501: no prometheus
        if response.status_code == 200:
            assert seen.on("replica"), f"{url} read nothing from the replica"
        assert seen.on("default") == [], (url, seen.on("default"))


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_the_schedules_pages_read_the_replica_and_nothing_of_them_from_the_primary(
    django_user_model, on_replica
):
    make(every=3600)
    client = logged_in(make_user(django_user_model, VIEW, *SCHEDULES))
    pages = [
        reverse("django_saga:schedules"),
        reverse("django_saga:schedule", args=["report"]),
        reverse("django_saga:api-schedules"),
        reverse("django_saga:api-schedule", args=["report"]),
    ]
    for url in pages:
        with Queries() as seen:
            response = client.get(url)
        assert response.status_code == 200, url
        assert seen.on("replica"), f"{url} read nothing from the replica"
        assert seen.on("default") == [], (url, seen.on("default"))


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_a_schedules_action_reads_and_writes_the_primary_only(django_user_model, on_replica):
    make(every=3600)
    client = logged_in(make_user(django_user_model, VIEW, *SCHEDULES))
    with Queries() as seen:
        response = client.post(
            reverse("django_saga:schedule-pause", args=["report"]), {"reason": "ticket 12"}
        )
    assert response.status_code == 302
    assert Schedule.objects.get().enabled is False
    assert seen.on("replica") == []
    assert any("UPDATE" in sql for sql in seen.on("default"))


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_an_action_reads_and_writes_the_primary_only(django_user_model, on_replica):
    saga = build_saga("failed")
    client = logged_in(make_user(django_user_model, VIEW, COMPENSATE))
    with Queries() as seen:
        response = client.post(
            reverse("django_saga:compensate", args=[saga.pk]), {"reason": "ticket 12"}
        )
    assert response.status_code == 302
    assert state_of(saga) == "compensating"
    assert seen.on("replica") == []
    assert any("FOR UPDATE" in sql or "UPDATE" in sql for sql in seen.on("default"))


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_without_the_setting_the_pages_read_the_primary(django_user_model, settings):
    settings.DATABASE_ROUTERS = [ROUTER]
    saga = build_saga("completed")
    client = logged_in(make_user(django_user_model, VIEW))
    with Queries() as seen:
        assert client.get(reverse("django_saga:detail", args=[saga.pk])).status_code == 200
    assert seen.on("replica") == [] and seen.on("default")
