"""A three-node RabbitMQ cluster (``scripts/rabbitmq-cluster``): quorum queues
on every node, and an engine that moves to another node when its own goes away.

The session fixture starts the cluster (and stops it at the end if it started
it); the machine's own broker on 5672 is not involved.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from django.db.models import Count

from django_saga import Step, manager
from tests.conftest import CI, ROOT, wait_for
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]

SCRIPT = ROOT / "scripts" / "rabbitmq-cluster"
NODES = ["saga1@localhost", "saga2@localhost", "saga3@localhost"]
PORTS = [5681, 5682, 5683]
URLS = [f"amqp://guest:guest@127.0.0.1:{port}/%2F" for port in PORTS]
HOW_TO_START = "start it with `scripts/rabbitmq-cluster start` (it needs rabbitmq-server)"


def _script(command: str, timeout: float = 1000) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), command], capture_output=True, text=True, timeout=timeout, check=False
    )


def _ctl(node: str, *args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", "-n", node, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"rabbitmqctl -n {node} {' '.join(args)}: {done.stderr}"
    return done.stdout


def _json(node: str, *args: str) -> Any:
    return json.loads(_ctl(node, *args, "--formatter", "json"))


@pytest.fixture(scope="session")
def rabbitmq_cluster() -> Iterator[list[str]]:
    """The three nodes' URLs; the cluster is started if it is not up yet."""
    already_up = _script("status", timeout=60).returncode == 0
    try:
        started = _script("start")
        problem = "" if started.returncode == 0 else (started.stderr or started.stdout).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = repr(exc)
    if problem:
        _script("stop", timeout=120)  # no half-started node left holding its ports
        message = f"the 3-node RabbitMQ cluster did not start ({problem}): {HOW_TO_START}"
        if CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield URLS
    if not already_up:
        _script("stop", timeout=120)


@pytest.fixture
def cluster_amqp(settings, rabbitmq_cluster) -> Iterator[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Point django-saga at the cluster, quorum queues, names no other test uses."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    names: dict[str, object] = {
        "BROKER_URL": rabbitmq_cluster,
        "QUEUE_TYPE": "quorum",
        "EXCHANGE": f"{prefix}.sagas",
        "STEP_QUEUE": f"{prefix}.steps",
        "COMPENSATE_QUEUE": f"{prefix}.compensate",
        "DEAD_LETTER_EXCHANGE": f"{prefix}.dlx",
        "DEAD_LETTER_QUEUE": f"{prefix}.dead",
    }
    settings.SAGA = {**settings.SAGA, **names}
    yield names
    for url in rabbitmq_cluster:
        try:
            connection = pika.BlockingConnection(pika.URLParameters(url))
        except pika.exceptions.AMQPError:
            continue
        channel = connection.channel()
        for queue in ("STEP_QUEUE", "COMPENSATE_QUEUE", "DEAD_LETTER_QUEUE"):
            channel.queue_delete(str(names[queue]))
        for exchange in ("EXCHANGE", "DEAD_LETTER_EXCHANGE"):
            channel.exchange_delete(str(names[exchange]))
        connection.close()
        break


def _start_sagas(count: int, seconds: float = 0.0) -> list[str]:
    return [
        manager.start(
            "clustered",
            [Step(f"s{i}", "test.sleep", "", {"seconds": seconds}) for i in range(3)],
        ).id
        for _ in range(count)
    ]


def _assert_each_step_ran_once(ids: list[str]) -> None:
    sagas = [wait_terminal(saga_id, 40) for saga_id in ids]
    assert {saga.state for saga in sagas} == {"completed"}
    step_ids = sorted(step.id for saga in sagas for step in saga.steps)
    twice = Ledger.objects.values("step_id").annotate(n=Count("id")).filter(n__gt=1)
    assert list(twice) == []
    assert sorted(Ledger.objects.values_list("step_id", flat=True)) == step_ids


def _engine_ports() -> set[int]:
    """The AMQP ports of the nodes the engine subprocess is connected to."""
    connections = _json(NODES[0], "list_connections", "port", "client_properties")
    return {
        int(c["port"])
        for c in connections
        if "django-saga engine" in json.dumps(c["client_properties"])
    }


def test_an_engine_on_the_cluster_runs_sagas_on_quorum_queues_of_three_nodes(
    cluster_amqp, engine_process
):
    engine_process(cluster_amqp)
    ids = _start_sagas(10)
    _assert_each_step_ran_once(ids)
    queues = {q["name"]: q for q in _json(NODES[0], "list_queues", "name", "type", "members")}
    for key in ("STEP_QUEUE", "COMPENSATE_QUEUE", "DEAD_LETTER_QUEUE"):
        queue = queues[str(cluster_amqp[key])]
        assert queue["type"] == "quorum", queue
        assert sorted(queue["members"]) == NODES, queue


def test_the_engine_moves_to_another_node_when_its_node_stops(cluster_amqp, engine_process):
    engine = engine_process(cluster_amqp, "--concurrency", "4")
    # The URLs are tried in order: the engine is on saga1, where the queues'
    # leaders are too (they were declared there).
    assert _engine_ports() == {PORTS[0]}
    ids = _start_sagas(30, seconds=0.2)
    wait_for(lambda: Ledger.objects.count() >= 15, 30, "the first step effects")
    _ctl(NODES[0], "stop_app")
    try:
        wait_for(lambda: b"Reconnected to the broker" in engine.output_bytes(), 30, "a reconnect")
        running = _json(NODES[1], "cluster_status")["running_nodes"]
        assert sorted(running) == NODES[1:]  # the cluster goes on without saga1
        _assert_each_step_ran_once(ids)
    finally:
        _ctl(NODES[0], "start_app")
        _ctl(NODES[0], "await_startup")
    output = engine.output()
    assert "Reconnected to the broker at amqp://guest:***@127.0.0.1:568" in output
    assert "guest:guest" not in output  # passwords are masked in every log line
    assert engine.process.poll() is None, output


def test_the_script_leaves_the_machines_own_broker_alone(rabbitmq_cluster):
    status = _json(NODES[0], "cluster_status")
    assert sorted(status["running_nodes"]) == NODES  # the system node is not among them
    system = os.environ.get("SAGA_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    connection = pika.BlockingConnection(pika.URLParameters(system))
    connection.close()
