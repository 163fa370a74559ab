"""End to end: saga_engine subprocesses, real RabbitMQ, real PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pika
import pytest
from django.conf import settings

from django_saga import Step, manager
from django_saga.models import OutboxMessage
from django_saga.transports import connect
from django_saga.transports.base import QUEUE_HEADER, REASON_HEADER
from tests.conftest import ROOT, wait_for
from tests.helpers import steps, wait_terminal
from tests.testapp.models import Ledger

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]


def _channel(url: str):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    return connection, connection.channel()


def _dead_letters(amqp: dict[str, str]) -> list[tuple[bytes, dict]]:
    connection, channel = _channel(amqp["BROKER_URL"])
    found = []
    while True:
        method, properties, body = channel.basic_get(amqp["DEAD_LETTER_QUEUE"], auto_ack=True)
        if method is None:
            break
        found.append((body, properties.headers or {}))
    connection.close()
    return found


def test_three_step_saga_completes_with_outputs(amqp, engine_process):
    engine_process(amqp)
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.set_output", "test.undo"),
            ("c", "test.pid", ""),
        ),
        context={"tag": "t"},
    )
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "completed"
    assert [s.status for s in saga.steps] == ["completed", "completed", "completed"]
    assert saga.step("a").output == {"done": "a", "seen_context": "t"}
    assert saga.step("b").output == {"via": "attribute"}
    assert saga.step("c").output["pid"] != os.getpid()  # ran in the engine process
    # The engine marks its own publishes sent in batches, a moment later.
    wait_for(
        lambda: not OutboxMessage.objects.filter(sent_at__isnull=True).exists(),
        5,
        "every outbox row marked sent",
    )


def test_failure_at_step_three_compensates_in_reverse(amqp, engine_process):
    engine_process(amqp)
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.record", "test.undo"),
            ("c", "test.fail", "test.undo"),
        ),
    )
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["compensated", "compensated", "failed"]
    undo = list(
        Ledger.objects.filter(action__startswith="undo:")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert undo == ["undo:b", "undo:a"]
    b, a = saga.step("b"), saga.step("a")
    assert b.compensated_at is not None and a.compensated_at is not None
    assert b.compensated_at <= a.compensated_at


def test_failure_at_step_one_ends_compensated(amqp, engine_process):
    engine_process(amqp)
    saga = manager.start(
        "order", steps(("a", "test.fail", "test.undo"), ("b", "test.record", "test.undo"))
    )
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "compensated"
    assert [s.status for s in saga.steps] == ["failed", "cancelled"]


def test_handler_writes_roll_back_when_it_raises(amqp, engine_process):
    engine_process(amqp)
    saga = manager.start(
        "order", steps(("a", "test.record", "test.undo"), ("b", "test.record_then_fail", ""))
    )
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "compensated"
    assert saga.step("b").error == "RuntimeError: card declined"
    # The row test.record_then_fail wrote before raising is gone; a's stays (then undone).
    assert not Ledger.objects.filter(step_id=saga.step("b").id).exists()
    assert list(
        Ledger.objects.filter(step_id=saga.step("a").id)
        .values_list("action", flat=True)
        .order_by("id")
    ) == ["do:a", "undo:a"]


def test_duplicate_step_messages_run_the_handler_once(amqp, engine_process):
    saga = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
    first = OutboxMessage.objects.get(saga_id=saga.id)
    topology = connect()  # the engine's own declaration, so the arguments match
    topology.declare_topology()
    topology.close()
    connection, channel = _channel(amqp["BROKER_URL"])
    for _ in range(3):
        channel.basic_publish(
            "", amqp["STEP_QUEUE"], first.body.encode(), pika.BasicProperties(delivery_mode=2)
        )
    connection.close()
    # Two engines race for the four copies (three by hand, one from the outbox).
    engine_process(amqp)
    engine_process(amqp)
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "completed"
    assert Ledger.objects.filter(step_id=saga.step("a").id).count() == 1
    assert saga.step("a").attempts == 1


def test_two_engines_complete_200_sagas_without_running_a_step_twice(amqp, engine_process):
    a = engine_process(amqp, "--concurrency", "4")
    b = engine_process(amqp, "--concurrency", "4")
    ids = [
        manager.start("bulk", [Step(f"s{i}", "test.pid", "") for i in range(3)]).id
        for _ in range(200)
    ]
    wait_for(lambda: Ledger.objects.count() >= 600, 120, "600 step effects")
    sagas = [wait_terminal(i, 60) for i in ids]
    assert {s.state for s in sagas} == {"completed"}
    step_ids = [s.id for saga in sagas for s in saga.steps]
    ledger = list(Ledger.objects.values_list("step_id", flat=True))
    assert len(ledger) == 600 and sorted(ledger) == sorted(step_ids)
    pids = {s.output["pid"] for saga in sagas for s in saga.steps}
    assert pids == {a.process.pid, b.process.pid}, "both engines should have taken work"


def test_malformed_messages_are_dead_lettered_and_the_engine_goes_on(amqp, engine_process):
    engine = engine_process(amqp)
    connection, channel = _channel(amqp["BROKER_URL"])
    bodies = {
        b"not json at all": "body is not JSON",
        json.dumps(
            {"v": 1, "kind": "execute", "saga_id": "01NOPE", "step_id": "01NOPE", "attempt": 1}
        ).encode(): "unknown saga '01NOPE' or step '01NOPE'",
        json.dumps({"v": 7, "kind": "execute"}).encode(): "unknown protocol version 7",
    }
    for body in bodies:
        channel.basic_publish(
            amqp["EXCHANGE"], amqp["STEP_QUEUE"], body, pika.BasicProperties(delivery_mode=2)
        )
    connection.close()
    saga = manager.start("after", steps(("a", "test.record", "")))
    assert wait_terminal(saga.id, 30).state == "completed"
    dead = wait_for(lambda: _dead_letters(amqp) or None, 10, "dead letters")
    assert isinstance(dead, list)
    assert {body for body, _ in dead} == set(bodies)
    for body, headers in dead:
        reason, queue = headers[REASON_HEADER], headers[QUEUE_HEADER]
        assert bodies[body] in (reason.decode() if isinstance(reason, bytes) else reason)
        assert (queue.decode() if isinstance(queue, bytes) else queue) == amqp["STEP_QUEUE"]
    assert engine.process.poll() is None


def test_sigterm_stops_the_engine_cleanly(amqp, engine_process):
    engine = engine_process(amqp)
    engine.process.send_signal(signal.SIGTERM)
    # Waited for, not stopped: a second SIGTERM would mean "exit at once".
    assert engine.process.wait(30) == 0
    engine.stop()
    assert "stopped" in engine.output()


def _run_engine_command(overrides: dict[str, str], extra_env: dict[str, str] | None = None):
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        SAGA_TEST_OVERRIDES=repr(overrides),
        SAGA_TEST_USE_TEST_DB=settings.DATABASES["default"]["NAME"],
    )
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "django", "saga_engine", "--settings", "tests.settings"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unreachable_broker_exits_non_zero_with_a_clear_message(amqp):
    result = _run_engine_command({**amqp, "BROKER_URL": "amqp://guest:secret@127.0.0.1:1/%2F"})
    assert result.returncode == 2
    assert "Cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1/%2F" in result.stderr
    assert "secret" not in result.stderr
    assert "Is RabbitMQ running?" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:wrong-password@127.0.0.1:5672/%2F",
        "amqp://guest:guest@127.0.0.1:5672/no-such-vhost",
    ],
    ids=["password", "vhost"],
)
def test_a_refused_login_or_vhost_is_not_blamed_on_a_stopped_broker(amqp, url):
    result = _run_engine_command({**amqp, "BROKER_URL": url})
    assert result.returncode == 2
    assert "RabbitMQ runs but refused the login or the virtual host" in result.stderr
    assert "Is RabbitMQ running?" not in result.stderr
    assert "wrong-password" not in result.stderr


def test_unreachable_database_exits_non_zero_with_a_clear_message(amqp):
    result = _run_engine_command(amqp, {"SAGA_TEST_PG_PORT": "1"})
    assert result.returncode == 3
    assert "Cannot reach the database" in result.stderr


def test_messages_are_routed_to_the_configured_queue_names(amqp):
    from django_saga.messages import Outgoing

    connection = connect()
    connection.declare_topology()
    connection.publish(
        [
            Outgoing("01A", "execute", "01S", "{}"),
            Outgoing("01B", "compensate", "01S", "{}"),
            Outgoing("01C", "compensate", "01S", "{}"),
        ]
    )
    assert connection.queue_depth(amqp["STEP_QUEUE"]) == 1
    assert connection.queue_depth(amqp["COMPENSATE_QUEUE"]) == 2
    connection.close()
