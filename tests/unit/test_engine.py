"""The engine over the in-process transport: what it does with deliveries and on stop.

The same duties are tested against real RabbitMQ and engine processes in
tests/integration (test_rabbitmq_engine.py, test_failure_handling.py); here
they run in milliseconds, with the broker's queues open to inspection.
"""

from __future__ import annotations

import pytest

from django_saga import Step, manager
from django_saga.conf import saga_settings
from django_saga.transports import connect
from django_saga.transports.base import QUEUE_HEADER, REASON_HEADER
from django_saga.transports.memory import get_broker
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def dead_letters() -> list[dict]:
    queue = get_broker(saga_settings.BROKER_URL).queues[saga_settings.DEAD_LETTER_QUEUE]
    return [dict(message.headers or {}, body=message.body) for message in queue]


def test_a_malformed_delivery_is_dead_lettered_with_its_reason_and_the_engine_goes_on(
    run_engine,
):
    run_engine()
    connection = connect()
    connection.publish_raw(saga_settings.STEP_QUEUE, b"not json at all")
    saga = manager.start("order", [Step("a", "test.record")])
    assert wait_terminal(saga.id).state == "completed"
    letters = wait_for(dead_letters, what="the malformed message in the dead-letter queue")
    assert letters == [
        {
            REASON_HEADER: letters[0][REASON_HEADER],
            QUEUE_HEADER: saga_settings.STEP_QUEUE,
            "body": b"not json at all",
        }
    ]
    assert letters[0][REASON_HEADER].startswith("malformed message: body is not JSON")
    connection.close()


def test_stop_lets_the_step_in_flight_finish_and_acks_it(run_engine):
    engine = run_engine()
    saga = manager.start("order", [Step("slow", "test.sleep", input={"seconds": 0.5})])
    # Delivered to a worker and not finished: the engine counts it in flight.
    wait_for(lambda: engine._inflight == 1, what="the slow step to be delivered")
    assert engine.processed == 0
    engine.stop()
    assert engine.finished.wait(10), "the engine did not finish"
    assert manager.get(saga.id).state == "completed"
    assert Ledger.objects.filter(action="do:slow").count() == 1
    queues = get_broker(saga_settings.BROKER_URL).queues
    assert len(queues[saga_settings.STEP_QUEUE]) == 0  # acked: nothing left to redeliver
