"""Several messages recorded in one transaction, on PostgreSQL.

The processor takes a batch of deliveries (``process_many``) and records the
messages of distinct sagas together: one statement locks every step and
reads their sagas, the handlers run, one statement writes every row. When
anything in it fails, it rolls back and each message is processed alone:
effects still happen once, and nothing waits inside the batch.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext

from django_saga import Step, manager, parallel
from django_saga.messages import EXECUTE, StepMessage, decode
from django_saga.models import OutboxMessage, Saga
from django_saga.processor import ACK, DEAD_LETTER, Processor
from django_saga.stores import get_store
from tests.conftest import wait_for
from tests.integration.test_postgres_concurrency import _a_backend_waits_for_a_lock
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _start(name: str, *actions: str) -> Saga:
    return manager.start(name, [Step(f"s{i}", action, "") for i, action in enumerate(actions)])


def _first(saga: Saga) -> tuple[bytes, bool]:
    return OutboxMessage.objects.get(saga_id=saga.id).body.encode(), False


def _effects(saga: Saga) -> list[str]:
    ids = [s.id for s in saga.steps]
    return sorted(Ledger.objects.filter(step_id__in=ids).values_list("action", flat=True))


def test_messages_of_several_sagas_are_recorded_in_one_transaction():
    sagas = [_start("batch", "test.record", "test.record") for _ in range(4)]
    bodies = [_first(s) for s in sagas]
    with CaptureQueriesContext(connection) as queries:
        results = Processor(get_store()).process_many(bodies)
    assert [(r.action, len(r.outgoing)) for r in results] == [(ACK, 1)] * 4
    sql = [q["sql"] for q in queries.captured_queries]
    ours = [s for s in sql if "testapp_ledger" not in s and s not in ("BEGIN", "COMMIT")]
    # Every step locked and its saga read in one statement, every row written in one.
    assert len(ours) == 2, ours
    assert sql.count("COMMIT") == 1
    for saga in sagas:
        saga = manager.get(saga.id)
        assert [s.status for s in saga.steps] == ["completed", "started"]
        assert _effects(saga) == ["do:s0"]
    # The next messages go on as one batch too, and finish every saga.
    results = Processor(get_store()).process_many(
        [(m.body.encode(), False) for r in results for m in r.outgoing]
    )
    assert {r.action for r in results} == {ACK}
    assert {manager.get(s.id).state for s in sagas} == {"completed"}


def test_a_handler_failing_in_a_batch_leaves_every_effect_once():
    """The batch rolls back with the failing handler's writes; each message
    then runs alone: the others' handlers run again and commit once, and the
    failure is recorded as it would be for a message alone."""
    ok = [_start("ok", "test.record") for _ in range(2)]
    bad = _start("bad", "test.record_then_fail")
    results = Processor(get_store()).process_many([_first(ok[0]), _first(bad), _first(ok[1])])
    assert [r.action for r in results] == [ACK, ACK, ACK]
    for saga in ok:
        assert manager.get(saga.id).state == "completed"
        assert _effects(saga) == ["do:s0"]
    bad = manager.get(bad.id)
    assert bad.step("s0").status == "failed" and "card declined" in bad.step("s0").error
    assert _effects(bad) == []  # its write rolled back, twice


def test_the_same_saga_twice_in_a_batch_runs_its_step_once():
    saga = _start("twice", "test.record", "test.record")
    other = _start("other", "test.record")
    first, second, third = Processor(get_store()).process_many(
        [_first(saga), _first(other), _first(saga)]
    )
    assert (first.action, len(first.outgoing)) == (ACK, 1)
    assert (third.action, third.outgoing) == (ACK, [])  # a copy: nothing more to send
    assert second.action == ACK and manager.get(other.id).state == "completed"
    assert _effects(saga) == ["do:s0"]


def test_an_unknown_step_in_a_batch_is_dead_lettered_and_the_rest_commit():
    sagas = [_start("known", "test.record") for _ in range(2)]
    stray = StepMessage(EXECUTE, sagas[0].id, "01ZZZZZZZZZZZZZZZZZZZZZZZZ", 1).encode().encode()
    results = Processor(get_store()).process_many(
        [_first(sagas[0]), (stray, False), _first(sagas[1]), (b"not json", False)]
    )
    assert [r.action for r in results] == [ACK, DEAD_LETTER, ACK, DEAD_LETTER]
    assert {manager.get(s.id).state for s in sagas} == {"completed"}


def _hold_while(sql: str, params: list[object], work) -> list[object]:
    """Run ``work()`` on this thread while another transaction holds the rows
    ``sql`` locks, letting go once this thread waits for a lock."""
    held, released = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        holder = connections.create_connection("default")
        try:
            holder.set_autocommit(False)
            with holder.cursor() as cursor:
                cursor.execute(sql, params)
                held.set()
                wait_for(_a_backend_waits_for_a_lock, 10, "the engine to wait for the row")
            holder.commit()
        except BaseException as exc:
            errors.append(exc)
            held.set()
        finally:
            holder.close()
            connections.close_all()  # this thread's own, opened by wait_for
            released.set()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    try:
        result = work()
    finally:
        thread.join(20)
    assert not errors, errors
    assert released.is_set()
    return result


def test_a_step_another_transaction_holds_is_waited_for_outside_the_batch():
    """Nothing waits inside a batch: the batch rolls back, the other messages
    commit alone, and the held one waits for its row, then runs once."""
    sagas = [_start("held", "test.record") for _ in range(3)]
    held = sagas[1].step("s0").id
    results = _hold_while(
        "SELECT id FROM django_saga_sagastep WHERE id = %s FOR UPDATE",
        [held],
        lambda: Processor(get_store()).process_many([_first(s) for s in sagas]),
    )
    assert [r.action for r in results] == [ACK, ACK, ACK]
    for saga in sagas:
        assert manager.get(saga.id).state == "completed"
        assert _effects(saga) == ["do:s0"]


def test_a_saga_row_another_transaction_holds_is_waited_for_outside_the_batch():
    """A step of a parallel stage locks its saga's row to decide the fan-in:
    in a batch it does not wait for it (two engines' batches waiting on each
    other would deadlock); alone, it does."""
    fan = manager.start(
        "fan", [parallel(Step("left", "test.record"), Step("right", "test.record"))]
    )
    other = _start("plain", "test.record")
    left = next(m for m in OutboxMessage.objects.filter(saga_id=fan.id) if "left" in _step_name(m))
    results = _hold_while(
        "SELECT id FROM django_saga_saga WHERE id = %s FOR UPDATE",
        [fan.id],
        lambda: Processor(get_store()).process_many([(left.body.encode(), False), _first(other)]),
    )
    assert [r.action for r in results] == [ACK, ACK]
    assert manager.get(other.id).state == "completed"
    assert manager.get(fan.id).step("left").status == "completed"
    assert _effects(manager.get(fan.id)) == ["do:left"]


def _step_name(message: OutboxMessage) -> str:
    step_id = decode(message.body.encode(), 10_000).step_id
    return manager.get(message.saga_id).step_set.get(pk=step_id).name


def test_an_engine_under_load_records_several_messages_per_transaction(amqp, run_engine):
    """Sagas started while no engine runs wait in the outbox; one handler
    thread then takes them in batches: fewer transactions than steps, and
    every effect once."""
    sagas = [_start("load", "test.record", "test.record", "test.record") for _ in range(30)]
    batches: list[int] = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if "= ANY(" in sql and "NOWAIT" in sql:
            batches.append(len(params[0]))
        return execute(sql, params, many, context)

    def watch(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
        connection.execute_wrappers.append(count)

    connection_created.connect(watch)
    try:
        run_engine(concurrency=1, batch_size=8, prefetch=64)
        wait_for(
            lambda: all(manager.get(s.id).state == "completed" for s in sagas),
            60,
            "30 sagas to complete",
        )
    finally:
        connection_created.disconnect(watch)
    assert Ledger.objects.count() == 90
    assert len(set(Ledger.objects.values_list("step_id", flat=True))) == 90
    assert batches, "no batch was recorded"
    assert max(batches) > 1 and max(batches) <= 8
