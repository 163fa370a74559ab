"""The console's pages on a read replica (``CONSOLE_DATABASE`` with
``ConsoleReadRouter``); its actions on the primary.

The "replica" alias is the test database seen through connections of its own
(``TEST: MIRROR``): which connection ran a query tells where it was sent.
"""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.unit.test_views import COMPENSATE, VIEW, build_saga, logged_in, make_user, state_of

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

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


def test_without_the_setting_the_pages_read_the_primary(django_user_model, settings):
    settings.DATABASE_ROUTERS = [ROUTER]
    saga = build_saga("completed")
    client = logged_in(make_user(django_user_model, VIEW))
    with Queries() as seen:
        assert client.get(reverse("django_saga:detail", args=[saga.pk])).status_code == 200
    assert seen.on("replica") == [] and seen.on("default")


def test_the_setting_without_the_router_is_a_configuration_error(settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_DATABASE": "replica"}
    settings.DATABASE_ROUTERS = []
    errors = [e for e in run_checks() if e.id == "django_saga.E003"]
    assert len(errors) == 1 and ROUTER in errors[0].msg


def test_an_unknown_alias_is_named_by_the_system_check(settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_DATABASE": "nope"}
    settings.DATABASE_ROUTERS = [ROUTER]
    messages = [e.msg for e in run_checks() if e.id == "django_saga.E001"]
    assert any(
        "CONSOLE_DATABASE" in m and "must name a database in DATABASES" in m for m in messages
    )
