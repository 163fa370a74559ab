"""Every store's unit answers task steps: the Django unit with rows, the
memory unit with a refusal (the abstract part is complete in both)."""

from __future__ import annotations

import inspect

from django_saga.stores.django_unit import DjangoUnit
from django_saga.stores.memory import MemoryUnit
from django_saga.stores.unit_tasks import UnitTasks


def test_both_units_implement_the_task_half_in_full():
    for unit in (DjangoUnit, MemoryUnit):
        assert issubclass(unit, UnitTasks)
        assert not inspect.isabstract(unit), unit.__abstractmethods__
    assert {"open_task", "live_tasks", "save_task"} <= UnitTasks.__abstractmethods__
