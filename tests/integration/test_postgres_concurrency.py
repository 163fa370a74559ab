"""Row locks on PostgreSQL: concurrent writers through the store lose nothing."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from django_saga import Step, manager
from django_saga.models import OutboxMessage
from django_saga.stores import get_store
from tests.conftest import wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _a_backend_waits_for_a_lock() -> bool:
    """Whether a connection to the test database is blocked on a row lock."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _in_threads(count: int, target) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


def test_twenty_threads_updating_steps_of_one_saga_lose_no_update():
    saga = manager.start("wide", [Step(f"s{i}", "test.record", "") for i in range(20)])
    store = get_store()
    step_ids = [s.id for s in saga.steps]

    _in_threads(
        20,
        lambda i: store.update_saga_step(saga.id, step_ids[i], "completed", output={"writer": i}),
    )

    saga = store.load_saga(saga.id)
    assert [s.output for s in saga.steps] == [{"writer": i} for i in range(20)]
    assert {s.status for s in saga.steps} == {"completed"}
    # Whichever thread finished last saw every other step completed: the
    # saga lock makes that check see all the others' commits.
    assert saga.state == "completed"


def test_concurrent_relays_claim_disjoint_outbox_rows():
    for n in range(60):
        manager.start("relay", [Step("a", "test.record", "")], context={"n": n})
    store = get_store()
    claimed: list[list[str]] = [[] for _ in range(6)]

    def claim(i: int) -> None:
        while batch := store.claim_due(5, lease=60):
            claimed[i].extend(m.id for m in batch)

    _in_threads(6, claim)
    every = [message_id for batch in claimed for message_id in batch]
    assert len(every) == 60
    assert set(every) == set(OutboxMessage.objects.values_list("id", flat=True))


def test_siblings_finishing_together_dispatch_the_next_stage_once(tmp_path):
    """Three threads run a stage's three steps; they meet, then race for the saga row."""
    from django_saga import parallel
    from django_saga.processor import Processor

    store = get_store()
    processor = Processor(store)
    for _ in range(10):
        stage = [
            Step(n, "test.barrier", "test.undo", {"dir": str(tmp_path), "parties": 3})
            for n in "bcd"
        ]
        saga = manager.start("race", [parallel(*stage), Step("e", "test.record", "")])
        bodies = [m.body for m in OutboxMessage.objects.filter(saga_id=saga.id)]
        assert len(bodies) == 3
        results = [None] * 3

        def run(i: int, bodies=bodies, results=results) -> None:
            results[i] = processor.process(bodies[i].encode())

        _in_threads(3, run)
        assert [r.action for r in results] == ["ack"] * 3
        dispatches = [m for r in results for m in r.outgoing]
        saga = store.load_saga(saga.id)
        e = saga.step("e")
        assert [s.status for s in saga.steps] == ["completed"] * 3 + ["started"]
        assert e.attempts == 1
        assert len(dispatches) == 1 and e.id in dispatches[0].body
        # The engine publishes it itself: no outbox row.
        assert not OutboxMessage.objects.filter(saga_id=saga.id, body__contains=e.id).exists()


def _held_at_a_barrier(name: str, tmp_path):  # type: ignore[no-untyped-def]
    """A saga of two steps whose first handler waits at a barrier for a second
    party: the saga, its first message, and the barrier's meeting directory."""
    saga = manager.start(
        name,
        [
            Step("a", "test.barrier", "test.undo", {"dir": str(tmp_path), "parties": 2}),
            Step("b", "test.record", "test.undo"),
        ],
    )
    body = OutboxMessage.objects.get(saga_id=saga.id).body.encode()
    return saga, body, tmp_path / saga.id


def test_an_operator_waits_for_a_running_step_alone_in_its_stage(tmp_path):
    """The step's unit writes the saga without locking it first: the operator,
    who locks every step row before the saga's, must wait for it to commit."""
    from django_saga.processor import Processor

    store = get_store()
    saga, body, meeting = _held_at_a_barrier("operator", tmp_path)

    handed_over: list[str] = []

    def run(i: int) -> None:
        if i == 0:  # the engine: its handler waits for the second party
            result = Processor(store).process(body)
            assert result.action == "ack"
            handed_over.extend(m.kind for m in result.outgoing)
        elif i == 1:  # the operator, once the handler holds the step
            wait_for(lambda: (meeting / "a").exists(), 10, "the handler to start")
            manager.compensate(saga.id)
        else:  # lets the handler finish once the operator is blocked
            wait_for(_a_backend_waits_for_a_lock, 10, "the operator to wait for the step")
            (meeting / "operator").touch()

    _in_threads(3, run)
    saga = store.load_saga(saga.id)
    # The step committed first (completed, b dispatched); the operator then
    # cancelled b and sent a's compensation: nothing of either was lost.
    assert saga.state == "compensating"
    assert [s.status for s in saga.steps] == ["compensating", "cancelled"]
    assert saga.step("a").output == {"pid": saga.step("a").output["pid"]}
    assert saga.step("b").attempts == 1
    # a's start message and the operator's compensation are outbox rows; b's
    # message the engine's unit handed back to be published by the engine.
    kinds = list(OutboxMessage.objects.filter(saga_id=saga.id).values_list("kind", flat=True))
    assert sorted(kinds) == ["compensate", "execute"]
    assert handed_over == ["execute"]


def test_a_manual_step_update_waits_for_the_step_an_engine_is_running(tmp_path):
    """The spec's update_saga_step on a later step locks every step, so it
    waits for the running one instead of being overwritten by its dispatch."""
    import time

    from django_saga.processor import Processor

    store = get_store()
    saga, body, meeting = _held_at_a_barrier("manual", tmp_path)
    b_id = saga.step("b").id
    waited: list[bool] = []

    def run(i: int) -> None:
        if i == 0:
            assert Processor(store).process(body).action == "ack"
        elif i == 1:
            wait_for(lambda: (meeting / "a").exists(), 10, "the handler to start")
            store.update_saga_step(saga.id, b_id, "completed", output={"by": "hand"})
        else:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not _a_backend_waits_for_a_lock():
                time.sleep(0.01)
            waited.append(_a_backend_waits_for_a_lock())
            (meeting / "manual").touch()

    _in_threads(3, run)
    assert waited == [True]
    saga = store.load_saga(saga.id)
    # The engine's unit committed first (b dispatched); the hand update then
    # completed b, and with it the saga.
    assert [(s.status, s.attempts) for s in saga.steps] == [("completed", 1), ("completed", 1)]
    assert saga.step("b").output == {"by": "hand"}
    assert saga.state == "completed"


def test_a_step_whose_row_another_transaction_holds_is_locked_then_read_afresh():
    """The engine locks a step and reads its saga in one statement only when
    no one holds the step (NOWAIT); when someone does, it waits for the lock,
    then reads what the holder committed."""
    from django_saga.processor import Processor

    store = get_store()
    saga = manager.start("held", [Step("a", "test.record", "test.undo"), Step("b", "test.record")])
    body = OutboxMessage.objects.get(saga_id=saga.id).body.encode()
    step_a = saga.step("a").id
    held = threading.Event()
    results: list[object] = []

    def run(i: int) -> None:
        if i == 1:  # the engine, once the row is held
            assert held.wait(10)
            results.append(Processor(store).process(body))
            return
        # Another transaction (an operator, say) holds a's row...
        holder = connections.create_connection("default")
        try:
            holder.set_autocommit(False)
            with holder.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM django_saga_sagastep WHERE id = %s FOR UPDATE", [step_a]
                )
                held.set()
                wait_for(_a_backend_waits_for_a_lock, 10, "the engine to wait for the row")
                # ... and starts undoing the saga before it lets go: the engine
                # must see that, and not run the step.
                cursor.execute(
                    "UPDATE django_saga_saga SET state = 'compensating' WHERE id = %s", [saga.id]
                )
            holder.commit()
        finally:
            holder.close()

    _in_threads(2, run)
    (result,) = results
    assert result.action == "ack"
    assert store.load_saga(saga.id).step("a").status == "cancelled"
    assert not Ledger.objects.filter(step_id=step_a).exists()


def test_eight_people_submitting_one_task_at_once_record_one_answer(django_user_model):
    from django.contrib.auth.models import Group

    from django_saga import Task, TaskClosed
    from django_saga.models import Intervention
    from django_saga.testing import SagaTestKit
    from tests.testapp.forms import RefundDecisionForm

    managers = Group.objects.get_or_create(name="refund-managers")[0]
    for n in range(8):
        django_user_model.objects.create(username=f"m{n}").groups.add(managers)
    steps = [
        Task("approve", form=RefundDecisionForm, candidates=["refund-managers"]),
        Step("pay", "test.record", ""),
    ]
    with SagaTestKit() as kit:
        saga = kit.start("refund", steps)
        task = kit.task(saga, "approve")
        outcomes: list[str] = []

        def submit(n: int) -> None:
            try:
                manager.complete_task(task.pk, {"amount": str(n)}, by=f"m{n}")
                outcomes.append(f"m{n}")
            except TaskClosed:
                outcomes.append("closed")

        _in_threads(8, submit)
        [winner] = [o for o in outcomes if o != "closed"]
        assert outcomes.count("closed") == 7
        # The threads wrote by the system's clock, a moment past the kit's.
        kit.advance(seconds=5)
        done = kit.saga(saga)
        assert done.state == "completed"
        assert done.step("approve").output == {"amount": winner[1:], "note": ""}
        outside = [e for e in done.step("approve").history if e["kind"] == "outside"]
        assert len(outside) == 1
        assert list(Intervention.objects.values_list("actor", flat=True)) == [winner]


def test_a_saga_that_queues_while_its_key_s_holder_runs_its_last_step_starts_next(tmp_path):
    """The holder's unit holds only its step's row when the newcomer queues
    (locking the holder's saga row): the holder must see the queue as it
    finishes and start the newcomer in that transaction, or the key would
    look free to any later start until a sweep."""
    from django_saga.api import QUEUE
    from django_saga.processor import Processor

    store = get_store()
    holder = manager.start(
        "keyed",
        [Step("a", "test.barrier", "test.undo", {"dir": str(tmp_path), "parties": 2})],
        key="k",
        if_active=QUEUE,
    )
    body = OutboxMessage.objects.get(saga_id=holder.id).body.encode()
    meeting = tmp_path / holder.id
    queued: list[str] = []

    def run(i: int) -> None:
        if i == 0:  # the engine, whose handler waits for the newcomer to queue
            assert Processor(store).process(body).action == "ack"
        else:
            wait_for(lambda: (meeting / "a").exists(), 10, "the handler to start")
            newcomer = manager.start(
                "keyed", [Step("a", "test.record", "test.undo")], key="k", if_active=QUEUE
            )
            queued.append(newcomer.id)
            assert newcomer.state == "queued"
            (meeting / "newcomer").touch()

    _in_threads(2, run)
    assert store.load_saga(holder.id).state == "completed"
    newcomer = store.load_saga(queued[0])
    assert newcomer.state == "started"
    assert OutboxMessage.objects.filter(saga_id=newcomer.id, kind="execute").exists()
    # So a third saga queues behind it rather than taking the key.
    third = manager.start("keyed", [Step("a", "test.record", "")], key="k", if_active=QUEUE)
    assert third.state == "queued"
