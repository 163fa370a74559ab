"""The Django unit's tasks: written with the unit, read locked while live,
and their offers replaced when asked."""

from __future__ import annotations

import pytest

from django_saga import Task
from django_saga.flow import offers
from django_saga.models import SagaTask, TaskOffer, TaskState
from django_saga.testing import SagaTestKit

pytestmark = pytest.mark.django_db


def test_live_tasks_are_the_step_s_open_and_claimed_ones_and_offers_are_replaced():
    with SagaTestKit() as kit:
        saga = kit.start("t", [Task("approve", candidates=["a", "b"])])
        task = kit.task(saga, "approve")
        with kit.store.open_step(saga.pk, task.step_id, fast_path=False) as unit:
            [live] = unit.live_tasks(unit.step)
            assert live.pk == task.pk
            live.state, live.claimed_by = TaskState.CLAIMED, "ada"
            unit.save_task(live, ["state", "claimed_by"], offers=offers(live, (), user="ada"))
            assert [t.pk for t in unit.live_tasks(unit.step)] == [task.pk]  # claimed: live
        assert list(TaskOffer.objects.values_list("kind", "name")) == [("user", "ada")]
        with kit.store.open_step(saga.pk, task.step_id, fast_path=False) as unit:
            [live] = unit.live_tasks(unit.step)
            live.state = TaskState.COMPLETED
            unit.save_task(live, ["state"])  # offers not given: kept
            assert unit.live_tasks(unit.step) == []
    assert SagaTask.objects.get().state == "completed"
    assert TaskOffer.objects.count() == 1


def test_an_offer_says_whether_its_task_is_open_as_the_task_changes():
    with SagaTestKit() as kit:
        saga = kit.start("t", [Task("approve", candidates=["a", "b"])])
        task = kit.task(saga, "approve")
        assert set(TaskOffer.objects.values_list("open", flat=True)) == {True}
        with kit.store.open_step(saga.pk, task.step_id, fast_path=False) as unit:
            [live] = unit.live_tasks(unit.step)
            live.state = TaskState.CLAIMED
            unit.save_task(live, ["state"])
        assert set(TaskOffer.objects.values_list("open", flat=True)) == {False}
        with kit.store.open_step(saga.pk, task.step_id, fast_path=False) as unit:
            [live] = unit.live_tasks(unit.step)
            live.state = TaskState.OPEN
            unit.save_task(live, ["state"], offers=offers(live, ["c"]))
        assert list(TaskOffer.objects.values_list("name", "open")) == [("c", True)]
