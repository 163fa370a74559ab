"""django_saga.checks: the settings' system checks, registered with Django, and
``CONSOLE_DATABASE``'s: the setting needs the router and a database that exists."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_saga.checks import check_settings
from tests.unit.conf.helpers import saga, saga_errors

ROUTER = "django_saga.routers.ConsoleReadRouter"


@pytest.mark.parametrize("store", ["nowhere.Store", "django_saga.stores.django.Nope", "nodots"])
def test_store_that_cannot_be_imported_is_e002(settings, store):
    saga(settings, STORE=store)
    errors = check_settings()
    assert [e.id for e in errors] == ["django_saga.E002"]
    assert errors[0].msg.startswith(f"SAGA['STORE'] = {store!r} cannot be imported")
    assert "DjangoStore" in errors[0].hint


def test_the_system_check_is_registered_with_django(settings):
    saga(settings, PREFETCH=0)
    assert [e.id for e in saga_errors()] == ["django_saga.E001"]
    with pytest.raises(SystemCheckError, match=r"SAGA\['PREFETCH'\] = 0"):
        call_command("check")


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_the_setting_without_the_router_is_a_configuration_error(settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_DATABASE": "replica"}
    settings.DATABASE_ROUTERS = []
    errors = [e for e in run_checks() if e.id == "django_saga.E003"]
    assert len(errors) == 1 and ROUTER in errors[0].msg


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_an_unknown_alias_is_named_by_the_system_check(settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_DATABASE": "nope"}
    settings.DATABASE_ROUTERS = [ROUTER]
    messages = [e.msg for e in run_checks() if e.id == "django_saga.E001"]
    assert any(
        "CONSOLE_DATABASE" in m and "must name a database in DATABASES" in m for m in messages
    )


def test_a_schedule_that_cannot_run_is_e030_naming_it(monkeypatch):
    from django_saga import schedule
    from django_saga.checks import check_schedules
    from tests.testapp import sagas

    fine = schedule("fine", sagas.Report, cron="0 2 * * *")
    lost = schedule("lost", "tests.testapp.sagas.Gone", cron="0 2 * * *")
    monkeypatch.setattr(sagas, "schedules", [fine, lost], raising=False)
    errors = check_schedules()
    assert [e.id for e in errors] == ["django_saga.E030"]
    assert "schedule 'lost' names 'tests.testapp.sagas.Gone', which cannot be imported" in (
        errors[0].msg
    )
    monkeypatch.setattr(sagas, "schedules", [fine, fine])
    (twice,) = check_schedules()
    assert "two schedules are named 'fine'" in twice.msg
    monkeypatch.setattr(sagas, "schedules", [fine])
    assert check_schedules() == []
