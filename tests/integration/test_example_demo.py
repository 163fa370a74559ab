"""The example shop's demo, as a newcomer runs it: every scenario ends as expected,
with RabbitMQ or without, and the broker is left as the demo found it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pika
import pytest

from tests.conftest import RABBITMQ_URL, ROOT


def run_demo(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "saga_demo", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_demo_runs_every_pattern_and_ends_consistent(tmp_path):
    # No broker answers there: the demo says so and runs in process.
    result = run_demo(tmp_path, "--sagas", "14", SAGA_BROKER_URL="amqp://guest:guest@127.0.0.1:1/")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:1/" in out
    assert "running on the in-process transport instead" in out
    # Parallel stage, skip, webhook-confirmed payment, and their failures.
    assert "gift_wrap=skipped" in out and "gift_wrap=completed" in out
    assert "validate_address=failed (AddressNotFound" in out
    # A declined payment request reached the provider: it is voided (compensated).
    assert "request_payment=compensated (declined" in out
    # Past the payment's capture (the pivot) nothing is undone: an island order
    # halts and the demo repairs it with retry_step.
    island = next(line for line in out.splitlines() if line.startswith("island: halted, repaired:"))
    assert " completed: " in island and "ship_order=completed" in island
    assert "repaired by retry_step: 2 order(s)" in out
    # Each order and its saga commit together, the order number as the key: the
    # provider answers by it, and starting an order's saga again returns it.
    assert "webhook calls, answered by order number" in out
    assert "saga again, with its key: got the same saga" in out
    assert "consistent" in out and "INCONSISTENT" not in out
    assert "Payments: charged exactly for the completed orders" in out
    assert "webhook calls" in out
    # A sleep after shipping, then the reminder; the nightly schedule, run now.
    assert "remind_on_its_way=completed" in out
    assert "Reminders 'on its way', sent a sleep after shipping: " in out
    assert "Schedule nightly-stock-report: At 02:00 every day, Europe/Berlin" in out
    assert "Stock report: completed, {'gadget': 3, 'gizmo': " in out
    # People: one refund approved by the manager, one gone to the directors.
    assert (
        "waited for a refund manager, approved by demo-manager (completed; payment refunded)" in out
    )
    assert "nobody approved it within 1 s, so it waits for the directors" in out
    # Each line reserved by a map's item, each parcel prepared by a child saga;
    # a declined payment undoes both.
    assert "lines reserved  parcels (child sagas)" in out
    assert "reserve_inventory[1]=compensated" in out and "(parcel) compensated" in out
    assert "Pickups: booked for the parcels of the completed orders" in out
    # Nothing was declared on a broker: nothing to delete or to report.
    assert "RabbitMQ:" not in out


# -- on RabbitMQ -------------------------------------------------------------------


@pytest.fixture
def prefix() -> str:
    """Names of the demo's exchanges and queues that no other test or run uses."""
    return f"test-demo-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker(prefix):
    """A connection to the test broker; whatever the demo left under ``prefix``
    is deleted afterwards."""
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    yield connection
    if connection.is_open:
        connection.close()
    cleanup = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    channel = cleanup.channel()
    for queue in ("steps", "compensate", "urgent", "dead"):
        channel.queue_delete(f"{prefix}.{queue}")
    for exchange in ("sagas", "dlx"):
        channel.exchange_delete(f"{prefix}.{exchange}")
    cleanup.close()


def exists(connection: pika.BlockingConnection, kind: str, name: str) -> bool:
    """Whether the queue or exchange is on the broker (a passive declare, which
    the broker answers with 404 on a channel of its own when it is not)."""
    channel = connection.channel()
    try:
        if kind == "queue":
            channel.queue_declare(name, passive=True)
        else:
            channel.exchange_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404, exc
        return False
    channel.close()
    return True


NAMES = [
    ("queue", "steps"),
    ("queue", "compensate"),
    ("queue", "urgent"),
    ("queue", "dead"),
    ("exchange", "sagas"),
    ("exchange", "dlx"),
]


@pytest.mark.rabbitmq
def test_on_rabbitmq_the_demo_deletes_the_queues_and_exchanges_it_declared(
    tmp_path, prefix, broker
):
    result = run_demo(
        tmp_path,
        *("--sagas", "7", "--transport", "amqp"),
        SAGA_BROKER_URL=RABBITMQ_URL,
        SAGA_BROKER_PREFIX=prefix,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"on queues {prefix}.steps, {prefix}.compensate, {prefix}.urgent" in out
    assert "consistent" in out and "INCONSISTENT" not in out
    last = out.rstrip().splitlines()[-1]
    assert last == (
        f"RabbitMQ: deleted the demo's queues ({prefix}.steps, {prefix}.compensate, "
        f"{prefix}.urgent, {prefix}.dead) and exchanges ({prefix}.sagas, {prefix}.dlx) "
        "from vhost '/'"
    )
    assert [(kind, name) for kind, name in NAMES if exists(broker, kind, f"{prefix}.{name}")] == []


@pytest.mark.rabbitmq
def test_what_is_still_in_use_is_left_named_and_deleted_later_on_demand(tmp_path, prefix, broker):
    # Another process of the shop consumes from the dead-letter queue.
    consumer = broker.channel()
    consumer.queue_declare(f"{prefix}.dead", durable=True, arguments={"x-queue-type": "classic"})
    consumer.basic_consume(f"{prefix}.dead", lambda *args: None)
    env = {"SAGA_BROKER_URL": RABBITMQ_URL, "SAGA_BROKER_PREFIX": prefix}
    result = run_demo(tmp_path, "--sagas", "7", "--transport", "amqp", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "consistent" in out and "INCONSISTENT" not in out
    report = out[out.index("RabbitMQ: the demo left these in vhost '/':") :].splitlines()
    assert report[1:] == [
        f"  queue {prefix}.dead: in use: something still consumes from it (an engine of the shop?)",
        f"  exchange {prefix}.dlx: in use: a queue is still bound to it",
        "Delete them once nothing uses them: ./run demo --delete-topology "
        "(python manage.py saga_demo --delete-topology)",
    ]
    # The rest is gone; what is in use stays, whoever asks.
    assert [n for k, n in NAMES if exists(broker, k, f"{prefix}.{n}")] == ["dead", "dlx"]
    again = run_demo(tmp_path, "--delete-topology", **env)
    assert again.returncode == 1
    assert "Some of the demo's queues and exchanges are still there" in again.stderr
    consumer.close()
    done = run_demo(tmp_path, "--delete-topology", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("RabbitMQ: deleted the demo's queues")
    assert [n for k, n in NAMES if exists(broker, k, f"{prefix}.{n}")] == []
