"""The end of a task (flow/task_ends.py): who ended it, when and why; no
longer offered to anyone; its signal once the change commits."""

from __future__ import annotations

import pytest

from django_saga import Task, signals
from django_saga.flow import cancel_tasks, end_task
from django_saga.models import TaskOffer, TaskState
from django_saga.testing import SagaTestKit

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    found: list[tuple[str, str, str]] = []

    def listen(sender, task, saga, step, **kwargs):
        found.append((task.state, step.name, saga.name))

    for signal in (signals.task_rejected, signals.task_cancelled):
        signal.connect(listen)
    yield found
    for signal in (signals.task_rejected, signals.task_cancelled):
        signal.disconnect(listen)


def test_a_task_ends_unoffered_with_who_and_why_and_signals_after_the_commit(heard):
    with SagaTestKit() as kit:
        saga = kit.start("t", [Task("approve", candidates=["g"])])
        task = kit.task(saga, "approve")
        with kit.committed():
            with kit.store.open_step(saga.pk, task.step_id, fast_path=False) as unit:
                [live] = unit.live_tasks(unit.step)
                end_task(unit, live, TaskState.REJECTED, "ada", "no")
            assert heard == []  # not before the commit
        assert heard == [("rejected", "approve", "t")]
    task.refresh_from_db()
    assert (task.state, task.done_by, task.reason) == ("rejected", "ada", "no")
    assert task.done_at is not None
    assert not TaskOffer.objects.filter(task=task).exists()


def test_cancelling_a_step_s_tasks_ends_only_the_live_ones(heard):
    with SagaTestKit() as kit:
        saga = kit.start("t", [Task("approve", candidates=["g"])])
        task = kit.task(saga, "approve")
        opened = kit.store.open_step(saga.pk, task.step_id, fast_path=False)
        with kit.committed(), opened as unit:
            cancel_tasks(unit, unit.step, "ops", "the saga went back")
            cancel_tasks(unit, unit.step, "ops", "again")  # nothing live: nothing
    assert heard == [("cancelled", "approve", "t")]
    task.refresh_from_db()
    assert (task.state, task.reason) == ("cancelled", "the saga went back")
