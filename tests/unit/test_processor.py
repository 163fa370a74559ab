"""The processor on one message at a time: no engine thread, no broker.

Each test starts a saga in an in-memory store, hands the processor the body
the engine would have received, and reads the result and the saga; the SQL a
step transition costs is counted on the Django store, whatever the saga's length.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_saga import Step, clock, manager
from django_saga.api import Manager
from django_saga.messages import COMPENSATE, EXECUTE, SETTLE, StepMessage, decode
from django_saga.models import OutboxMessage, Saga
from django_saga.processor import ACK, DEAD_LETTER, Processor
from django_saga.stores import get_store
from django_saga.stores.memory import MemoryStore
from tests.testapp.models import Ledger
from tests.unit.helpers import start_steps, statements_of

pytestmark = pytest.mark.django_db

#: Statements one step transition may issue (receive -> handler -> record ->
#: next message), not counting the handler's own, BEGIN and COMMIT included.
#: On PostgreSQL: lock the step and read its saga and steps in one statement
#: (FOR UPDATE NOWAIT: no one else holds the step here), then every write in
#: one statement (finish the step, dispatch the next; the saga's row only when
#: its state changes or its progress mark is old). Elsewhere: lock, read, and
#: one statement per row written. The next message has no outbox row: the
#: engine publishes it. The handler runs in the transaction itself, with no
#: savepoint. docs/performance.md quotes these.
STEP_BUDGET = {"postgresql": 4, "sqlite": 6}


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def body(saga: Saga, name: str, attempt: int = 1, kind: str = EXECUTE) -> bytes:
    return StepMessage(kind, saga.id, saga.step(name).id, attempt).encode().encode()


def next_messages(result) -> list[tuple[str, int]]:
    return [(m.kind, decode(m.body.encode(), 10_000).attempt) for m in result.outgoing]


def test_a_message_runs_its_step_once_and_hands_back_the_next_message(store):
    saga = Manager(store).start("order", [Step("a", "test.record"), Step("b", "test.record")])
    processor = Processor(store)
    result = processor.process(body(saga, "a"))
    assert result.action == ACK
    assert next_messages(result) == [(EXECUTE, 1)]
    assert store.load_saga(saga.id).step("a").status == "completed"
    # A copy of the same message (published twice): acked, the handler not
    # run again, nothing sent (the engine that ran it holds its delivery
    # until the broker confirms what it caused).
    copy = processor.process(body(saga, "a"))
    assert copy.action == ACK and copy.outgoing == []
    assert Ledger.objects.filter(action="do:a").count() == 1


def test_a_redelivered_message_whose_step_is_done_sends_again_what_it_caused(store):
    """The engine that ran step a may have stopped before the broker confirmed
    b's message, which has no outbox row: a's redelivery sends it again."""
    saga = Manager(store).start("order", [Step("a", "test.record"), Step("b", "test.record")])
    processor = Processor(store)
    store.mark_sent([m.id for m in store.claim_due(10, 60)])  # a relay sent a's message
    first = processor.process(body(saga, "a"))
    assert store.claim_due(10, 60) == []  # b's message has no outbox row
    again = processor.process(body(saga, "a"), redelivered=True)
    assert again.action == ACK
    assert [m.body for m in again.outgoing] == [m.body for m in first.outgoing]
    assert Ledger.objects.filter(action="do:a").count() == 1
    # b ran meanwhile: a later redelivery of a has nothing left to send.
    processor.process(first.outgoing[0].body.encode())
    assert processor.process(body(saga, "a"), redelivered=True).outgoing == []


def test_a_redelivery_does_not_send_what_waits_in_the_outbox(store):
    """A retry waiting for its delay is the relay's to send, when it is due."""
    saga = Manager(store).start("order", [Step("a", "test.flaky")])
    processor = Processor(store)
    store.mark_sent([m.id for m in store.claim_due(10, 60)])
    failed = processor.process(body(saga, "a"))
    assert failed.outgoing == []  # the retry is delayed: an outbox row
    assert store.load_saga(saga.id).step("a").attempts == 2
    again = processor.process(body(saga, "a"), redelivered=True)
    assert again.action == ACK and again.outgoing == []


def test_a_message_for_another_attempt_is_dropped_without_running(store):
    saga = Manager(store).start("order", [Step("a", "test.record")])
    result = Processor(store).process(body(saga, "a", attempt=2))
    assert result.action == ACK and result.outgoing == []
    assert store.load_saga(saga.id).step("a").status == "started"
    assert not Ledger.objects.exists()


def test_a_failing_handler_is_recorded_in_a_fresh_unit_and_compensation_starts(store):
    saga = Manager(store).start(
        "order", [Step("a", "test.record", "test.undo"), Step("b", "test.record_then_fail")]
    )
    processor = Processor(store)
    processor.process(body(saga, "a"))
    result = processor.process(body(saga, "b"))
    assert result.action == ACK
    assert next_messages(result) == [(COMPENSATE, 1)]
    loaded = store.load_saga(saga.id)
    assert loaded.state == "compensating"
    assert loaded.step("b").status == "failed"
    assert loaded.step("b").error == "RuntimeError: card declined"
    assert loaded.step("a").status == "compensating"


def test_a_handler_returning_something_else_than_a_dict_fails_its_step(store):
    saga = Manager(store).start("order", [Step("a", "test.returns_list")])
    Processor(store).process(body(saga, "a"))
    step = store.load_saga(saga.id).step("a")
    assert step.status == "failed"
    assert step.error.startswith("TypeError: handler for 'test.returns_list' returned list")


def test_an_attempt_whose_time_ran_out_before_it_started_fails_without_running(store, monkeypatch):
    saga = Manager(store).start("order", [Step("a", "test.record", timeout=5)])
    later = clock.now() + timedelta(seconds=10)
    monkeypatch.setattr(clock, "now", lambda: later)
    Processor(store).process(body(saga, "a"))
    step = store.load_saga(saga.id).step("a")
    assert step.history[-1]["outcome"] in ("retrying", "failed")
    assert "timeout" in step.history[-1]["error"]
    assert not Ledger.objects.exists()


def test_a_step_of_a_saga_being_compensated_is_cancelled_not_run(store):
    manager = Manager(store)
    saga = manager.start("order", [Step("a", "test.record")])
    manager.compensate(saga.id)
    result = Processor(store).process(body(saga, "a"))
    assert result.action == ACK
    assert not Ledger.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'{"v": 2}', StepMessage(EXECUTE, "nope", "nope", 1).encode().encode()],
    ids=["empty", "not-json", "not-an-object", "other-version", "unknown-saga"],
)
def test_what_cannot_be_processed_is_dead_lettered_with_its_reason(store, raw):
    result = Processor(store).process(raw)
    assert result.action == DEAD_LETTER
    assert result.reason


def test_a_child_sagas_end_for_a_parent_no_longer_there_is_dropped(store, caplog):
    """A child left alone outlives its parent, which retention may purge:
    its end is acknowledged, and said in the log, not dead-lettered."""
    raw = StepMessage(SETTLE, "01GONEPARENT", "01GONESTEP", 1).encode().encode()
    with caplog.at_level("INFO", logger="django_saga.engine"):
        result = Processor(store).process(raw)
    assert result.action == ACK
    assert "Dropping a child saga's end for an unknown saga '01GONEPARENT'" in caplog.text


# -- the SQL a step transition costs ------------------------------------------------
def _transition_count(k: int) -> int:
    saga = start_steps(k)
    processor = Processor(get_store())
    body = OutboxMessage.objects.get(saga_id=saga.id).body.encode()
    with CaptureQueriesContext(connection) as queries:
        result = processor.process(body)
    assert result.action == "ack" and len(result.outgoing) == 1
    handler = [sql for sql in statements_of(queries) if "testapp_ledger" in sql]
    return len(queries) - len(handler)


def _writes(body: bytes) -> tuple[str, list]:
    with CaptureQueriesContext(connection) as queries:
        result = Processor(get_store()).process(body)
    assert result.action == "ack"
    return " ".join(statements_of(queries)), result.outgoing


@pytest.mark.django_db(transaction=True)
def test_a_step_transition_costs_the_same_for_3_and_30_steps():
    short, long = _transition_count(3), _transition_count(30)
    assert short == long
    assert short == STEP_BUDGET[connection.vendor]


@pytest.mark.django_db(transaction=True)
def test_a_step_transition_writes_two_step_rows_and_neither_an_outbox_nor_a_saga_row():
    """Finish the step, dispatch the next: the next message goes out with the
    engine (no outbox row), and the saga's row, touched by start() a moment
    ago, already says it made progress."""
    saga = start_steps(3)
    sql, outgoing = _writes(OutboxMessage.objects.get(saga_id=saga.id).body.encode())
    assert sql.count('UPDATE "django_saga_sagastep"') == 2, sql
    assert 'INSERT INTO "django_saga_outboxmessage"' not in sql
    assert 'UPDATE "django_saga_saga"' not in sql
    # The last step's transition writes the saga's row: it completes.
    while outgoing:
        (message,) = outgoing
        sql, outgoing = _writes(message.body.encode())
    assert 'UPDATE "django_saga_saga"' in sql
    assert manager.get(saga.id).state == "completed"
