"""The SQL of one saga, captured in this process: what each transaction executes.

A statement count per transition explains the database figures of a run,
and needs no broker or engine to read.
"""

from __future__ import annotations

from django.db import connection


def transition_sql(steps: int) -> list[tuple[str, list[str]]]:
    """The SQL of start() and of each step's transition, captured in this process.

    One saga runs its steps through ``Processor.process`` here, one message at a
    time, as an engine would; each transition is one transaction.
    """
    from django.test.utils import CaptureQueriesContext

    from django_saga import Step, manager
    from django_saga.models import OutboxMessage
    from django_saga.processor import ACK, Processor
    from django_saga.stores import get_store

    store = get_store()
    processor = Processor(store)
    captured = []
    plan = [Step(f"s{p}", "bench.write", "bench.undo", {}) for p in range(steps)]
    with CaptureQueriesContext(connection) as queries:
        saga = manager.start("bench.sql", plan, {"run": "sql"})
    captured.append(("start()", [q["sql"] for q in queries.captured_queries]))
    # The first message is start()'s outbox row; each step hands back the next.
    first = OutboxMessage.objects.get(saga_id=saga.id, sent_at__isnull=True)
    store.mark_sent([first.id])
    body = first.body
    for position in range(steps):
        with CaptureQueriesContext(connection) as queries:
            result = processor.process(body.encode())
        if result.action != ACK:
            raise RuntimeError(f"step {position} of the SQL probe saga: {result}")
        if result.outgoing:
            body = result.outgoing[0].body
        label = "last step" if position == steps - 1 else f"step {position + 1}"
        captured.append((label, [q["sql"] for q in queries.captured_queries]))
    return captured
