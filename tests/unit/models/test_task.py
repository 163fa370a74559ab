"""A task row: one per attempt of its step, its state checked by the
database, and gone with its saga."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from django_saga import Task, manager
from django_saga.models import SagaTask, TaskOffer
from django_saga.testing import SagaTestKit

pytestmark = pytest.mark.django_db


def test_a_step_attempt_has_one_task_and_a_state_the_database_knows():
    with SagaTestKit() as kit:
        saga = kit.start("t", [Task("approve", title="Approve it", candidates=["g"])])
        task = kit.task(saga, "approve")
    assert str(task) == "Approve it (open)" and task.live
    twin = SagaTask(saga_id=task.saga_id, step_id=task.step_id, attempt=task.attempt, title="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        SagaTask.objects.filter(pk=task.pk).update(state="lost")


def test_a_task_and_its_offers_go_with_their_saga():
    with SagaTestKit() as kit:
        saga = kit.start("t", [Task("approve", candidates=["g"])])
    manager.get(saga.pk).delete()
    assert not SagaTask.objects.exists() and not TaskOffer.objects.exists()
