"""``ModelTable``: the rows the engine's hand-written SQL reads become the
instances the ORM would give, and the instances it writes the rows the ORM
would write.

Run on SQLite and on PostgreSQL (where the statements are also prepared).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from django_saga import Step, manager
from django_saga.models import Saga, SagaStep
from django_saga.stores.django import DjangoStore
from tests.factories import SagaFactory, SagaStepFactory

pytestmark = pytest.mark.django_db(transaction=True)


def fields_of(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.fixture
def varied_step() -> SagaStep:
    """A step and saga holding every kind of value the columns take."""
    now = timezone.now()
    saga = SagaFactory(
        context={"naïve": "ünïcode ✓", "nested": {"list": [1, 2.5, None, True]}},
        deadline_at=now + timedelta(hours=1),
        definition="shop.orders.OrderSaga",
        version="7",
    )
    return SagaStepFactory(
        saga=saga,
        position=0,
        stage=3,
        input={"amount": "12.50", "quote": 'he said "hi"\n'},
        output={"empty": {}, "zero": 0},
        history=[{"kind": "execute", "attempt": 1, "outcome": "retrying", "retry_in": 0.5}],
        status="started",
        attempts=2,
        started_at=now,
        timeout=2.5,
        timeout_at=now + timedelta(seconds=2.5),
        duration_ms=None,
    )


def test_a_locked_step_and_its_saga_read_as_the_orm_reads_them(varied_step):
    # A second step: the saga's row is read with the first one only.
    SagaStepFactory(saga=varied_step.saga, name="second", position=1)
    store = DjangoStore()
    with store.open_step(varied_step.saga_id, varied_step.pk) as unit:
        assert unit is not None and unit.step is not None
        raw, saga = unit.step, unit.saga
    assert fields_of(raw) == fields_of(SagaStep.objects.get(pk=varied_step.pk))
    assert fields_of(saga) == fields_of(Saga.objects.get(pk=varied_step.saga_id))
    assert [fields_of(s) for s in saga.steps] == [
        fields_of(s) for s in SagaStep.objects.filter(saga_id=saga.pk).order_by("position")
    ]
    assert raw.saga is saga and all(s.saga is saga for s in saga.steps)
    # Timestamps in the time zone Django's own cursors give them.
    orm = SagaStep.objects.get(pk=varied_step.pk)
    assert raw.timeout_at.tzinfo is not None and raw.timeout_at.tzinfo == orm.timeout_at.tzinfo
    assert saga.created_at.tzinfo == orm.saga.created_at.tzinfo
    assert not raw._state.adding and raw._state.db == "default"


def test_updates_write_what_the_orm_reads_back(varied_step):
    store = DjangoStore()
    varied_step.output = {"total": Decimal("30.10"), "when": timezone.now().date()}
    varied_step.error = "ValueError: ünïcode 'quoted'"
    varied_step.timeout_at = None
    before = SagaStep.objects.get(pk=varied_step.pk).updated_at
    with transaction.atomic(), store.statements().cursor() as cursor:
        store.statements().step.update_many(
            cursor, [varied_step], ["output", "error", "timeout_at", "updated_at"]
        )
    fresh = SagaStep.objects.get(pk=varied_step.pk)
    assert fresh.output == {"total": "30.10", "when": varied_step.output["when"].isoformat()}
    assert fresh.error == "ValueError: ünïcode 'quoted'"
    assert fresh.timeout_at is None
    assert fresh.updated_at > before  # auto_now applies, as with save()
    assert fresh.history == varied_step.history  # untouched columns stay


def test_rows_inserted_together_read_back_as_the_orm_reads_them(varied_step):
    """Several rows in one INSERT: every kind of value, NULLs in a column of
    values and columns of nothing but NULLs."""
    saga = varied_step.saga
    now = timezone.now()
    varied = SagaStepFactory.build(
        saga=saga,
        position=1,
        input={"amount": Decimal("12.50"), "list": [1, None, "ü"], "empty": []},
        output={"nested": {"deep": True}},
        history=[{"kind": "execute", "attempt": 1, "at": now.isoformat()}],
        status="started",
        attempts=3,
        started_at=now,
        timeout=0.25,
        timeout_at=now + timedelta(seconds=1),
        duration_ms=7,
    )
    bare = SagaStepFactory.build(saga=saga, position=2, timeout=None, duration_ms=None)
    store = DjangoStore()
    with transaction.atomic(), store.statements().cursor() as cursor:
        store.statements().step.insert_many(cursor, [varied, bare])
    for step in (varied, bare):
        stored = SagaStep.objects.get(pk=step.pk)
        assert fields_of(stored) == fields_of(step) | {
            "input": {**step.input, "amount": "12.50"} if step is varied else step.input
        }
        assert not step._state.adding


def test_a_saga_of_more_steps_than_one_insert_takes_starts_whole():
    # 3000 steps of 25 columns: more parameters than one statement may carry.
    steps = [Step(f"s{i}", "test.record", "") for i in range(3000)]
    saga = manager.start("long", steps)
    assert SagaStep.objects.filter(saga_id=saga.pk).count() == 3000
    assert manager.get(saga.pk).steps[-1].name == "s2999"
