"""A unit's writes, run together at the end of its transaction (``Writer``).

Run on SQLite (a statement per table and row) and on PostgreSQL (one statement).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_saga import Step, manager
from django_saga.models import OutboxMessage, Saga, SagaStep, StepStatus, new_id
from django_saga.stores.django import DjangoStore
from django_saga.stores.postgres import NOTIFY_CHANNEL
from django_saga.stores.writes import COMBINED_UPDATES, Writes
from tests.factories import SagaFactory, SagaStepFactory

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


def outbox_row(saga: Saga) -> OutboxMessage:
    return OutboxMessage(
        id=new_id(), saga=saga, kind="execute", body="{}", available_at=timezone.now()
    )


def write(writes: Writes) -> CaptureQueriesContext:
    """Run ``writes`` as a transaction's last statements, and commit; the statements."""
    sql = DjangoStore().statements()
    with (
        transaction.atomic(),
        CaptureQueriesContext(connection) as captured,
        sql.cursor() as cursor,
    ):
        sql.writer.write(cursor, writes)
    return captured


def test_a_transactions_rows_are_written_in_one_statement_on_postgresql():
    """Units of one transaction put their rows together: one INSERT per table
    (SQLite: then an UPDATE per row), one statement in all on PostgreSQL."""
    sql = DjangoStore().statements()
    saga = SagaFactory.build()
    first, second = (SagaStepFactory.build(saga=saga, position=n) for n in range(2))
    running = SagaStepFactory(position=0)
    running.status = StepStatus.STARTED
    writes = Writes()
    writes.insert(sql.saga, [saga])
    writes.insert(sql.step, [first])
    writes.insert(sql.step, [second])  # another unit's rows of the same table
    writes.updates.append((sql.step, running, ["status", "updated_at"]))
    assert [len(rows) for _, rows in writes.inserts] == [1, 2]
    captured = write(writes)
    on_postgres = connection.vendor == "postgresql"
    assert len(captured.captured_queries) == (1 if on_postgres else 3)
    assert list(SagaStep.objects.filter(saga_id=saga.pk).values_list("pk", flat=True)) == [
        first.pk,
        second.pk,
    ]
    assert SagaStep.objects.get(pk=running.pk).status == StepStatus.STARTED
    assert not saga._state.adding and not first._state.adding


def test_a_transaction_of_many_updates_runs_one_statement_per_kind_of_update():
    """Past COMBINED_UPDATES (a map dispatching hundreds of items), no statement
    of hundreds of clauses: the rows of each kind of update go together."""
    sql = DjangoStore().statements()
    steps = [SagaStepFactory(position=n) for n in range(COMBINED_UPDATES + 1)]
    writes = Writes()
    for step in steps:
        step.status = StepStatus.STARTED
        writes.updates.append((sql.step, step, ["status", "updated_at"]))
    steps[0].attempts = 7
    writes.updates.append((sql.step, steps[0], ["attempts", "updated_at"]))
    captured = write(writes)
    assert len(captured.captured_queries) == 2
    assert all(len(q["sql"]) < 1000 for q in captured.captured_queries)
    assert SagaStep.objects.filter(status=StepStatus.STARTED).count() == len(steps)
    assert SagaStep.objects.get(pk=steps[0].pk).attempts == 7


def test_a_transaction_with_nothing_to_write_runs_no_statement():
    assert len(write(Writes()).captured_queries) == 0


@pytest.mark.postgres
def test_units_writing_the_same_kinds_of_rows_share_one_statement_in_any_order():
    """So that PostgreSQL plans it once: the writes of a busy engine take few shapes."""
    sql = DjangoStore().statements()
    saga = SagaFactory()
    step = SagaStepFactory(saga=saga, position=0)
    saga_update = (sql.saga, saga, ["state", "updated_at"])
    step_update = (sql.step, step, ["status", "updated_at"])
    one = write(Writes(updates=[saga_update, step_update]))
    other = write(Writes(updates=[step_update, saga_update]))
    [first], [second] = one.captured_queries, other.captured_queries
    assert first["sql"] == second["sql"]


@pytest.fixture
def listening() -> Iterator[object]:
    """A connection of its own listening on the relays' channel, as a relay does."""
    wrapper = connections["default"]
    listener = wrapper.get_new_connection(wrapper.get_connection_params())
    listener.autocommit = True
    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
    yield listener
    listener.close()


@pytest.mark.postgres
def test_the_relays_are_woken_on_commit_with_when_the_first_delayed_row_comes_due(listening):
    saga = SagaFactory()
    write(
        Writes(
            inserts=[(DjangoStore().statements().outbox, [outbox_row(saga)])],
            notify=True,
            due="1767225600.250",
        )
    )
    payloads = [n.payload for n in listening.notifies(timeout=5, stop_after=1)]
    assert payloads == ["1767225600.250"]
    assert OutboxMessage.objects.filter(saga=saga).count() == 1


@pytest.mark.postgres
def test_rows_rolled_back_wake_no_relay(listening):
    saga = SagaFactory()
    sql = DjangoStore().statements()
    writes = Writes(inserts=[(sql.outbox, [outbox_row(saga)])], notify=True)
    with pytest.raises(RuntimeError), transaction.atomic(), sql.cursor() as cursor:
        sql.writer.write(cursor, writes)
        raise RuntimeError("the unit failed after its writes")
    assert list(listening.notifies(timeout=0.5)) == []
    assert not OutboxMessage.objects.filter(saga=saga).exists()
