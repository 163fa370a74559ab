"""The SQL a saga costs: constant per step transition and per start, whatever its length."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_saga import Step, manager
from django_saga.models import OutboxMessage
from django_saga.processor import Processor
from django_saga.stores import get_store

pytestmark = pytest.mark.django_db(transaction=True)

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
#: Statements start() may issue: the saga, all its steps (already dispatched
#: where due) in one bulk insert and the first message's outbox row; on
#: PostgreSQL one statement that also wakes the relays (pg_notify).
START_BUDGET = {"postgresql": 3, "sqlite": 5}


def _sql(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries]


def _start(k: int):
    return manager.start("budget", [Step(f"s{i}", "test.pid", "") for i in range(k)])


@pytest.mark.parametrize("k", [3, 30])
def test_start_issues_a_constant_number_of_statements(k):
    with CaptureQueriesContext(connection) as queries:
        _start(k)
    assert len(queries) <= START_BUDGET[connection.vendor], _sql(queries)
    inserts = [sql for sql in _sql(queries) if 'INSERT INTO "django_saga_sagastep"' in sql]
    assert len(inserts) == 1  # one bulk insert, not k round trips


def _transition_count(k: int) -> int:
    saga = _start(k)
    processor = Processor(get_store())
    body = OutboxMessage.objects.get(saga_id=saga.id).body.encode()
    with CaptureQueriesContext(connection) as queries:
        result = processor.process(body)
    assert result.action == "ack" and len(result.outgoing) == 1
    handler = [sql for sql in _sql(queries) if "testapp_ledger" in sql]
    return len(queries) - len(handler)


def test_a_step_transition_costs_the_same_for_3_and_30_steps():
    short, long = _transition_count(3), _transition_count(30)
    assert short == long
    assert short == STEP_BUDGET[connection.vendor]


def _writes(body: bytes) -> tuple[str, list]:
    with CaptureQueriesContext(connection) as queries:
        result = Processor(get_store()).process(body)
    assert result.action == "ack"
    return " ".join(_sql(queries)), result.outgoing


def test_a_step_transition_writes_two_step_rows_and_neither_an_outbox_nor_a_saga_row():
    """Finish the step, dispatch the next: the next message goes out with the
    engine (no outbox row), and the saga's row, touched by start() a moment
    ago, already says it made progress."""
    saga = _start(3)
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
