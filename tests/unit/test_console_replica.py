"""The system checks of ``CONSOLE_DATABASE``: the setting needs the router and
a database that exists.

The console's pages on a read replica are tested beside the access rules that
send their reads there (``tests/unit/console/test_access.py``); these tests of
``django_saga.checks`` stay here for the move of the checks' tests.
"""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

ROUTER = "django_saga.routers.ConsoleReadRouter"


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
