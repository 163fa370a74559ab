"""Map stages with two saga_engine processes on RabbitMQ and PostgreSQL: the
concurrency limit holds across processes, and each item's effect commits once."""

from __future__ import annotations

import pytest

from django_saga import Step, each, manager
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]


def test_fifty_items_at_most_five_at_once_across_two_engines(amqp, engine_process, tmp_path):
    for _ in range(2):
        engine_process({**amqp, "SWEEP_INTERVAL": 0.2}, "--concurrency", "4", "--prefetch", "4")
    running = tmp_path / "running"
    running.mkdir()
    saga = manager.start(
        "payouts",
        [
            Step("open", "test.record", "test.undo"),
            each("pay", "test.item_gauge", "test.undo", over="context.sellers",
                 input={"dir": str(running), "pause": 0.1}, max_concurrency=5),
            Step("close", "test.record", ""),
        ],
        {"sellers": list(range(50))},
    )  # fmt: skip
    saga = wait_terminal(saga.id, 90)
    assert saga.state == "completed", saga.error
    items = [s for s in saga.steps if s.is_item]
    assert len(items) == 50 and all(s.status == "completed" for s in items)
    seen = list(
        Ledger.objects.filter(step_id__in=[s.id for s in items]).values_list("action", flat=True)
    )
    # One effect per item, and never more than five items running at once,
    # though eight handler threads were free (the limit was reached, too).
    assert len(seen) == 50
    peak = max(int(action.split(":")[1]) for action in seen)
    assert 3 <= peak <= 5, peak
    close = saga.step("close")
    assert all(s.executed_at <= close.started_at for s in items)
