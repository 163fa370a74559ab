"""django_saga.console.openapi.schedules: an endpoint for each of the
schedule actions, made from their table, and schemas that hold every
schedule the API can show."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from django_saga import manager
from django_saga.console.openapi.schedules import SCHEDULE_PROPERTIES, act_path
from django_saga.console.schedule_api import schedule_document, schedule_json
from django_saga.console.schedules import SCHEDULE_ACTS
from django_saga.models import Saga, Schedule
from tests.unit.console.openapi.helpers import DOC, fits
from tests.unit.schedules.helpers import START, make


def test_each_action_has_its_endpoint_permission_and_status_from_the_table():
    for act in SCHEDULE_ACTS:
        operation = DOC["paths"][act_path(act)]["post"]
        assert operation["operationId"] == act.api_id
        assert act.permission in operation["description"]
        assert "django_saga.view_schedule" in operation["description"]
        assert str(act.status) in operation["responses"]
        conflict = operation["responses"]["409"]["content"]["application/json"]["schema"]
        codes = conflict["properties"]["error"]["enum"]
        assert codes == ["invalid_state_transition", *(["cannot_start"] * (act.slug == "run"))]


def test_the_trails_actions_are_the_tables():
    entry = DOC["components"]["schemas"]["ScheduleStatus"]["properties"]["interventions"]
    assert entry["items"]["properties"]["action"]["enum"] == ["pause", "resume", "run_now"]


@pytest.mark.django_db
def test_the_summary_lists_exactly_the_fields_a_schedule_has_in_the_list(kit):
    assert set(SCHEDULE_PROPERTIES) == set(schedule_json(make(every=60), None))


@pytest.mark.django_db
def test_every_schedule_as_the_api_shows_it_fits_the_schema(kit):
    """Paused, ended, broken, run by an operator, its saga purged: each fits."""
    make("hourly", every=3600, missed="each", missed_limit=3)
    make("ended", every=3600, ends=START + timedelta(minutes=1))
    make("nightly", cron="0 2 * * *", timezone="Europe/Berlin", params={"action": "test.pending"})
    kit.advance(hours=2)
    manager.pause_schedule("hourly", by="ada", reason="hold")
    manager.run_schedule("nightly", by="ada", reason="now")
    Saga.objects.filter(key__startswith="hourly@").first().delete()
    Schedule.objects.filter(name="ended").update(error="SagaDefinitionError: no")
    for schedule in Schedule.objects.all():
        document = schedule_document(schedule, kit.clock.now())
        assert fits("ScheduleStatus", _as_json(document)), schedule.name
        assert fits("ScheduleSummary", _as_json(schedule_json(schedule, "completed")))
    assert not fits("ScheduleSummary", {**_as_json(schedule_json(schedule, None)), "x": 1})


def _as_json(value: Any) -> Any:
    """What JsonResponse sends: times as ISO text."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
