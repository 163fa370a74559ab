"""The operator's hand on schedules (actions/schedules.py): pause, resume,
run now, each attributed, explained and on the schedule's trail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from django_saga import InvalidStateTransition, SagaDefinitionError, manager
from django_saga.errors import ScheduleNotFound
from django_saga.models import Saga, Schedule
from django_saga.testing import SagaTestKit
from tests.unit.schedules.helpers import START, make, runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit():
    with SagaTestKit(START) as kit:
        yield kit


def test_a_paused_schedule_stops_ticking_and_resumes_from_its_next_tick(kit):
    make(cron="0 * * * *")
    paused = manager.pause_schedule("report", by="ada", reason="the warehouse is closed")
    assert paused.enabled is False
    kit.advance(hours=3)  # 10:00, 11:00 and 12:00 pass while paused
    assert runs() == []
    resumed = manager.resume_schedule("report", by="ada", reason="open again")
    assert resumed.next_run_at == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    kit.advance(hours=1)
    assert runs() == ["report@2026-12-07T13:00:00Z"]
    trail = manager.schedule_interventions("report")
    assert [(t.action, t.actor, t.reason) for t in trail] == [
        ("pause", "ada", "the warehouse is closed"),
        ("resume", "ada", "open again"),
    ]
    assert trail[1].details == {"next_run_at": "2026-12-07T13:00:00Z"}


def test_pausing_twice_or_resuming_a_running_schedule_is_refused(kit):
    make(cron="0 * * * *")
    with pytest.raises(InvalidStateTransition, match="Schedule report is not paused"):
        manager.resume_schedule("report")
    manager.pause_schedule("report")
    with pytest.raises(InvalidStateTransition, match="Schedule report is paused already"):
        manager.pause_schedule("report")
    assert len(manager.schedule_interventions("report")) == 1


def test_run_now_starts_the_saga_at_once_paused_or_not_and_leaves_the_ticks_alone(kit):
    make(cron="0 * * * *", params={"action": "test.pending"})
    manager.pause_schedule("report", by="ada", reason="hold")
    saga = manager.run_schedule("report", by="ada", reason="the report is needed now")
    kit.run()
    assert Saga.objects.get(pk=saga.pk).key.startswith("report@now-")
    assert saga.context["schedule"] == {
        "name": "report",
        "tick": START.isoformat(),
        "by": "ada",
    }
    (run,) = manager.schedule_runs("report")
    assert (run.saga_id, run.by) == (saga.pk, "ada")
    schedule = Schedule.objects.get()
    assert (schedule.enabled, schedule.last_saga_id) == (False, saga.pk)
    assert schedule.next_run_at == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert manager.schedule_interventions("report")[-1].details == {"saga": saga.pk}


def test_a_named_operator_says_why(kit):
    make(cron="0 * * * *")
    with pytest.raises(SagaDefinitionError, match="A reason is required"):
        manager.pause_schedule("report", by="ada")
    assert Schedule.objects.get().enabled is True


def test_an_unknown_schedule_is_named(kit):
    with pytest.raises(ScheduleNotFound, match="No schedule 'nope'"):
        manager.pause_schedule("nope")
    with pytest.raises(ScheduleNotFound, match="No schedule 'nope'"):
        manager.schedule("nope")


def test_schedules_are_listed_by_name(kit):
    make("b", cron="0 * * * *")
    make("a", every=60)
    assert [s.name for s in manager.schedules()] == ["a", "b"]
