"""Failure handling with saga_engine subprocesses, real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import signal
import time

import pika
import pytest

from django_saga import Step, manager
from django_saga.transports.base import REASON_HEADER
from tests.conftest import wait_for
from tests.helpers import steps, wait_terminal
from tests.testapp.models import Ledger

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]


def _handler_started(step_name: str) -> bool:
    """True once an engine holds the step's row lock (its handler is running)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'transactionid' AND a.query LIKE %s AND a.pid <> pg_backend_pid()",
            ["%django_saga_sagastep%"],
        )
        return cursor.fetchone()[0] > 0


def test_a_step_whose_engine_died_times_out_and_is_retried(amqp, engine_process):
    fast_sweeps = {**amqp, "SWEEP_INTERVAL": 0.3}
    first = engine_process(fast_sweeps)
    saga = manager.start("order", [Step("a", "test.slow_first", "", {"seconds": 6}, timeout=2)])
    time.sleep(1)  # the handler is sleeping inside its transaction
    first.process.send_signal(signal.SIGKILL)
    assert first.stop() == -signal.SIGKILL
    time.sleep(1.5)  # past the 2s timeout of attempt 1
    engine_process(fast_sweeps)
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "completed"
    step = saga.step("a")
    assert step.attempts == 2
    assert step.history[0]["outcome"] == "retrying"
    assert step.history[0]["error"] == (
        "StepTimeout: no result for attempt 1 within its 2s timeout"
    )
    # The killed attempt's write died with its transaction; attempt 2's stayed.
    assert list(Ledger.objects.filter(step_id=step.id).values_list("action", flat=True)) == ["do:a"]


def test_sigterm_lets_the_step_in_flight_finish(amqp, engine_process):
    engine = engine_process(amqp)
    saga = manager.start("order", [Step("a", "test.slow_first", "", {"seconds": 2})])
    wait_for(lambda: manager.get(saga.id).step("a").status == "started", 5, "dispatch")
    time.sleep(0.7)  # inside the handler
    engine.process.send_signal(signal.SIGTERM)
    assert engine.stop(timeout=15) == 0
    saga = manager.get(saga.id)
    assert saga.state == "completed"
    assert saga.step("a").attempts == 1
    assert Ledger.objects.filter(step_id=saga.step("a").id).count() == 1
    assert "finishing in-flight steps" in engine.output()


def test_a_handler_longer_than_two_heartbeats_keeps_its_connection(amqp, engine_process):
    engine = engine_process({**amqp, "HEARTBEAT": 1})
    saga = manager.start("order", [Step("a", "test.sleep", "", {"seconds": 4})])
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "completed"
    assert saga.step("a").attempts == 1
    assert Ledger.objects.filter(step_id=saga.step("a").id).count() == 1
    assert "Lost the broker" not in engine.output()
    assert engine.process.poll() is None


def test_an_oversized_message_is_dead_lettered(amqp, engine_process):
    engine_process({**amqp, "MAX_MESSAGE_BYTES": 1024})
    connection = pika.BlockingConnection(pika.URLParameters(amqp["BROKER_URL"]))
    channel = connection.channel()
    channel.basic_publish(amqp["EXCHANGE"], amqp["STEP_QUEUE"], b"{" + b" " * 2000 + b"}")

    def dead() -> tuple | None:
        method, properties, body = channel.basic_get(amqp["DEAD_LETTER_QUEUE"], auto_ack=True)
        return (properties, body) if method else None

    properties, body = wait_for(dead, 15, "the dead letter")
    reason = properties.headers[REASON_HEADER]
    assert "over the 1024-byte limit" in (reason.decode() if isinstance(reason, bytes) else reason)
    assert len(body) == 2002
    connection.close()


def test_sagas_run_on_quorum_queues(amqp, engine_process):
    engine_process({**amqp, "QUEUE_TYPE": "quorum"})
    ok = manager.start("order", steps(("a", "test.record", "test.undo"), ("b", "test.record", "")))
    bad = manager.start("order", steps(("a", "test.record", "test.undo"), ("b", "test.fail", "")))
    assert wait_terminal(ok.id, 30).state == "completed"
    assert wait_terminal(bad.id, 30).state == "compensated"
    connection = pika.BlockingConnection(pika.URLParameters(amqp["BROKER_URL"]))
    declared = connection.channel().queue_declare(
        amqp["STEP_QUEUE"],
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": amqp["DEAD_LETTER_EXCHANGE"],
            "x-delivery-limit": 20,
        },
    )  # the same arguments: RabbitMQ accepts the redeclaration only if they match
    assert declared.method.queue == amqp["STEP_QUEUE"]
    connection.close()


def _rabbitmqctl(*args: str) -> None:
    import subprocess

    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def test_the_engine_reconnects_after_a_broker_restart_and_start_keeps_working(amqp, engine_process):
    engine = engine_process(amqp)
    before = manager.start("order", steps(("a", "test.record", "")))
    assert wait_terminal(before.id, 30).state == "completed"
    _rabbitmqctl("stop_app")
    try:
        # The broker is down: start() only writes to the database.
        during = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
        time.sleep(2)
    finally:
        _rabbitmqctl("start_app")
    saga = wait_terminal(during.id, 60)
    assert saga.state == "completed"
    assert [s.attempts for s in saga.steps] == [1, 1]
    assert "Lost the broker" in engine.output()
    assert "Reconnected to the broker" in engine.output()
    assert engine.process.poll() is None


def test_a_second_signal_exits_at_once_and_loses_nothing(amqp, engine_process):
    engine = engine_process({**amqp, "SHUTDOWN_GRACE": 60})
    saga = manager.start("order", [Step("a", "test.slow_first", "", {"seconds": 3})])
    wait_for(lambda: manager.get(saga.id).step("a").status == "started", 5, "dispatch")
    time.sleep(0.7)  # inside the handler
    engine.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    began = time.monotonic()
    engine.process.send_signal(signal.SIGTERM)
    assert engine.stop(timeout=10) == 1
    assert time.monotonic() - began < 2  # did not wait for the 3s handler
    assert "Second signal" in engine.output()
    # The interrupted attempt rolled back; the next engine runs it again.
    assert Ledger.objects.count() == 0
    engine_process(amqp)
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "completed"
    assert Ledger.objects.filter(step_id=saga.step("a").id).count() == 1
