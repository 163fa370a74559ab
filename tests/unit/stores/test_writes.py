"""A unit's writes, run together at the end of its transaction (``Writer``).

Run on SQLite (a statement per table and row) and on PostgreSQL (one statement).
"""

from __future__ import annotations

import pytest

from django_saga import Step, manager
from django_saga.models import Saga, SagaStep

pytestmark = pytest.mark.django_db(transaction=True)


def fields_of(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_start_inserts_rows_the_orm_reads_back_and_the_instances_count_as_saved():
    saga = manager.start(
        "rows",
        [Step("a", "test.record", "test.undo", {"n": 1}), Step("b", "test.record", "", {})],
        context={"tag": "ü"},
        deadline=60,
    )
    assert not saga._state.adding and all(not s._state.adding for s in saga.steps)
    stored = Saga.objects.get(pk=saga.pk)
    assert fields_of(stored) == fields_of(saga)
    for step in saga.steps:
        assert fields_of(SagaStep.objects.get(pk=step.pk)) == fields_of(step)
    saga.save()  # an UPDATE, not a second INSERT
    assert Saga.objects.filter(pk=saga.pk).count() == 1
