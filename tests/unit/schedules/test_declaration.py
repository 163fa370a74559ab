"""``schedule(...)`` as an app's sagas.py declares it, and the checks that
refuse, naming it, a schedule that could not run."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from django_saga import SagaDefinitionError, schedule
from django_saga.schedules.declaration import check, declared_schedules
from tests.testapp import sagas
from tests.testapp.sagas import Report

from .helpers import REPORT


def test_a_schedule_names_its_definition_by_class_or_by_path():
    by_class = schedule("nightly", Report, cron="0 2 * * *", timezone="Europe/Berlin")
    by_path = schedule("nightly", REPORT, cron="0 2 * * *", timezone="Europe/Berlin")
    assert by_class == by_path
    assert by_class.row_fields()["definition"] == REPORT
    assert by_class.row_fields()["timezone"] == "Europe/Berlin"


def test_every_takes_a_timedelta_or_seconds():
    assert schedule("sync", Report, every=timedelta(hours=1)).timing.every == 3600
    assert schedule("sync", Report, every=90).timing.every == 90
    with pytest.raises(SagaDefinitionError, match="whole seconds"):
        schedule("sync", Report, every=timedelta(milliseconds=1500))


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"cron": "0 25 * * *"}, "schedule 'nightly' has a bad cron expression '0 25 * * *'"),
        ({"cron": "0 2 * * *", "timezone": "Berlin"}, "unknown time zone 'Berlin'"),
        ({"cron": "0 2 * * *", "missed": "all"}, "missed must be one of skip, latest, each"),
        ({"cron": "0 2 * * *", "overlap": "queue"}, "overlap must be one of skip, allow, wait"),
        ({"cron": "0 2 * * *", "missed_limit": 0}, "missed_limit must be from 1 to 1000"),
        ({"cron": "0 2 * * *", "params": {"at": object()}}, "params"),
        (
            {"cron": "0 2 * * *", "priority": "urgent"},
            "priority must be one of 'normal', 'high' or empty, got 'urgent'",
        ),
    ],
)
def test_a_bad_schedule_is_refused_where_it_is_declared(options, says):
    with pytest.raises(SagaDefinitionError, match=re.escape(says)):
        schedule("nightly", Report, **options)


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 101])
def test_a_schedule_name_is_a_short_slug(name):
    with pytest.raises(SagaDefinitionError, match="schedule name is letters, digits"):
        schedule(name, Report, cron="0 2 * * *")


def test_a_definition_is_a_saga_definition():
    with pytest.raises(SagaDefinitionError, match="starts a SagaDefinition"):
        schedule("nightly", dict, cron="0 2 * * *")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("tests.testapp.sagas.Nope", {}, "cannot be imported"),
        ("tests.testapp.sagas.record", {}, "is not a SagaDefinition"),
    ],
)
def test_loading_a_path_names_what_is_wrong(path, params, says):
    declared = schedule("nightly", path, cron="0 2 * * *", params=params)
    with pytest.raises(SagaDefinitionError, match=says):
        check(declared)


def test_declared_schedules_are_read_from_each_apps_sagas_module(monkeypatch):
    listed = [schedule("a", Report, cron="0 2 * * *")]
    monkeypatch.setattr(sagas, "schedules", listed, raising=False)
    # The example shop, installed in the tests, declares its nightly report.
    assert [d.name for d in declared_schedules()] == ["a", "nightly-stock-report"]
    listed.append(schedule("a", Report, every=60))
    with pytest.raises(SagaDefinitionError, match="two schedules are named 'a'"):
        declared_schedules()
    monkeypatch.setattr(sagas, "schedules", ["0 2 * * *"])
    with pytest.raises(SagaDefinitionError, match=r"list what django_saga\.schedule"):
        declared_schedules()
