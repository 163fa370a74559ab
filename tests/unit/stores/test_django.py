"""``DjangoStore``: opening a step's unit reads its saga, or nothing; a step
another transaction holds is waited for (by an engine) or passed over (by
the sweeper, by a batch); a key taken undoes only the start.

Run on SQLite and on PostgreSQL; the tests of rows that another transaction
holds on PostgreSQL only.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from django_saga.models import Saga, SagaStep, StepStatus
from django_saga.stores.base import Busy, KeyTaken
from django_saga.stores.django import DjangoStore
from tests.factories import SagaStepFactory
from tests.testapp.models import Ledger
from tests.unit.stores.helpers import row_held

pytestmark = pytest.mark.django_db(transaction=True)


def timed_out_step() -> SagaStep:
    """A dispatched step past its timeout."""
    return SagaStepFactory(
        position=0,
        status=StepStatus.STARTED,
        attempts=1,
        timeout=1.0,
        timeout_at=timezone.now() - timedelta(seconds=1),
    )


def test_a_saga_whose_positions_do_not_start_at_zero_is_still_read():
    step = SagaStepFactory(position=5, status="started", attempts=1)
    with DjangoStore().open_step(step.saga_id, step.pk) as unit:
        assert unit is not None
        assert unit.saga.pk == step.saga_id and unit.saga.name == step.saga.name
        assert [s.pk for s in unit.saga.steps] == [step.pk]


def test_an_unknown_step_reads_as_none():
    store = DjangoStore()
    with transaction.atomic(), store.statements().cursor() as cursor:
        assert store._lock_step(cursor, "01UNKNOWN0000000000000000") is None


@pytest.mark.postgres
def test_a_step_another_transaction_holds_is_read_as_its_holder_committed_it():
    """A redelivered message waits for the engine that still runs its step,
    then reads the step as that engine left it, not as it was before."""
    step = SagaStepFactory(position=0, status=StepStatus.STARTED, attempts=1)

    def complete() -> None:
        SagaStep.objects.filter(pk=step.pk).update(status=StepStatus.COMPLETED)

    with row_held(SagaStep, step.pk, then=complete, release_after=0.5):
        started = time.monotonic()
        with DjangoStore().open_step(step.saga_id, step.pk) as unit:
            assert time.monotonic() - started >= 0.4  # it waited for the holder
            assert unit is not None and unit.step is not None
            assert unit.step.status == StepStatus.COMPLETED
            assert unit.saga.steps[0] is unit.step


def test_a_timeout_opens_a_step_only_once_it_is_due_by_the_databases_clock():
    due = timed_out_step()
    not_yet = SagaStepFactory(
        position=0, status=StepStatus.STARTED, timeout_at=timezone.now() + timedelta(minutes=5)
    )
    store = DjangoStore()
    with store.open_step(not_yet.saga_id, not_yet.pk, timed_out=True) as unit:
        assert unit is None
    with store.open_step(due.saga_id, due.pk, timed_out=True) as unit:
        assert unit is not None and unit.step is not None and unit.step.pk == due.pk


@pytest.mark.postgres
def test_a_timeout_passes_over_a_step_an_engine_is_running():
    step = timed_out_step()
    with row_held(SagaStep, step.pk):
        started = time.monotonic()
        with DjangoStore().open_step(step.saga_id, step.pk, timed_out=True) as unit:
            assert unit is None
        assert time.monotonic() - started < 5  # and the sweeper did not wait


@pytest.mark.postgres
def test_a_batch_of_messages_never_waits_for_a_step_another_transaction_holds():
    held, free = (SagaStepFactory(position=0, status=StepStatus.STARTED) for _ in range(2))
    store = DjangoStore()
    batch = store.open_steps([(free.saga_id, free.pk), (held.saga_id, held.pk)])
    assert batch is not None
    with row_held(SagaStep, held.pk):
        started = time.monotonic()
        with pytest.raises(OperationalError), batch:
            pass
        assert time.monotonic() - started < 5
        # Nothing of the batch is kept: the free step's message goes on alone.
        with store.open_step(free.saga_id, free.pk) as unit:
            assert unit is not None


def test_a_database_without_nowait_takes_no_batches():
    batch = DjangoStore().open_steps([])
    assert (batch is None) == (connection.vendor != "postgresql")


@pytest.mark.postgres
def test_an_operator_who_will_not_wait_finds_a_running_saga_busy():
    step = SagaStepFactory(position=0, status=StepStatus.STARTED)
    with (
        row_held(SagaStep, step.pk),
        pytest.raises(Busy),
        DjangoStore().open_saga(step.saga_id, True),
    ):
        pass


def test_a_key_taken_undoes_only_the_start_and_the_callers_own_writes_stand():
    store = DjangoStore()

    def start() -> Saga:
        saga = Saga(name="order", key="order-7")
        steps = [SagaStep(saga=saga, position=0, stage=0, name="a", action="test.record")]
        with store.create(saga, steps):
            pass
        return saga

    first = start()
    with transaction.atomic():
        Ledger.objects.create(step_id="caller", action="the caller's own write")
        with pytest.raises(KeyTaken) as taken:
            start()
    assert taken.value.saga_id == first.pk
    assert Ledger.objects.filter(step_id="caller").exists()
    assert list(Saga.objects.values_list("pk", flat=True)) == [first.pk]
