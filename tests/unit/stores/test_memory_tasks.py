"""The memory store keeps no tasks: a task step on it fails, saying why,
and nothing waits for an answer that could never come."""

from __future__ import annotations

import pytest

from django_saga import SagaDefinitionError, Task
from django_saga.models import SagaStep, SagaTask
from django_saga.stores.memory_tasks import REFUSED, MemoryUnitTasks
from tests.helpers import wait_terminal

pytestmark = pytest.mark.django_db(transaction=True)


def test_writing_a_task_is_refused_and_there_is_none_to_read():
    unit = MemoryUnitTasks()
    with pytest.raises(SagaDefinitionError, match="task steps need the Django store"):
        unit.open_task(SagaTask(), [])
    assert unit.live_tasks(SagaStep()) == []


def test_a_task_step_run_on_the_memory_store_fails_its_saga_with_the_reason(settings, run_engine):
    from django_saga import manager

    settings.SAGA = {**settings.SAGA, "STORE": "django_saga.stores.memory.MemoryStore"}
    run_engine()
    saga = manager.start("t", [Task("approve", candidates=["g"])])
    saga = wait_terminal(saga.pk)
    assert saga.state == "compensated"
    assert REFUSED in saga.step("approve").error
