"""A three-node RabbitMQ cluster (``scripts/rabbitmq-cluster``): quorum queues
on every node, and an engine that moves to another node when its own goes away.

The session fixture starts the cluster (and stops it at the end if it started
it); the machine's own broker on 5672 is not involved.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from django.db.models import Count

from django_saga import Step, manager
from tests import rabbitmq_cluster as cluster
from tests.chaos.scenario import FORWARD, Broker, ChaosConfig, Scenario, broker_names
from tests.conftest import CI, wait_for
from tests.helpers import wait_terminal
from tests.rabbitmq_cluster import NODES, PORTS, URLS
from tests.testapp.models import Ledger

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]

SAGA_ENGINE_PORT = re.compile(r"Saga engine consuming .* at amqp://[^@]*@127\.0\.0\.1:(\d+)/")


@pytest.fixture(scope="session")
def rabbitmq_cluster() -> Iterator[list[str]]:
    """The three nodes' URLs; the cluster is started if it is not up yet."""
    already_up = cluster.is_up()
    problem = cluster.start()
    if problem:
        message = f"the 3-node RabbitMQ cluster did not start ({problem}): {cluster.HOW_TO_START}"
        if CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield list(URLS)
    if not already_up:
        cluster.stop()


@pytest.fixture
def cluster_amqp(settings, rabbitmq_cluster) -> Iterator[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Point django-saga at the cluster, quorum queues, names no other test uses."""
    names = broker_names(f"test-{uuid.uuid4().hex[:10]}", list(rabbitmq_cluster))
    names["QUEUE_TYPE"] = "quorum"
    settings.SAGA = {**settings.SAGA, **names}
    yield names
    Broker(names).delete_topology()  # on the first node that answers


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
    connections = cluster.ctl_json(NODES[0], "list_connections", "port", "client_properties")
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
    queues = {
        q["name"]: q for q in cluster.ctl_json(NODES[0], "list_queues", "name", "type", "members")
    }
    for key in ("STEP_QUEUE", "COMPENSATE_QUEUE", "PRIORITY_QUEUE", "DEAD_LETTER_QUEUE"):
        queue = queues[str(cluster_amqp[key])]
        assert queue["type"] == "quorum", queue
        assert sorted(queue["members"]) == list(NODES), queue


def test_the_engine_moves_to_another_node_when_its_node_stops(cluster_amqp, engine_process):
    engine = engine_process(cluster_amqp, "--concurrency", "4")
    # The URLs are tried in order: the engine is on saga1, where the queues'
    # leaders are too (they were declared there).
    assert _engine_ports() == {PORTS[0]}
    ids = _start_sagas(30, seconds=0.2)
    wait_for(lambda: Ledger.objects.count() >= 15, 30, "the first step effects")
    cluster.stop_node(NODES[0])
    try:
        wait_for(lambda: b"Reconnected to the broker" in engine.output_bytes(), 30, "a reconnect")
        assert cluster.running_nodes(NODES[1]) == list(
            NODES[1:]
        )  # the cluster goes on without saga1
        _assert_each_step_ran_once(ids)
    finally:
        cluster.start_node(NODES[0])
    output = engine.output()
    assert "Reconnected to the broker at amqp://guest:***@127.0.0.1:568" in output
    assert "guest:guest" not in output  # passwords are masked in every log line
    assert engine.process.poll() is None, output


def test_the_script_leaves_the_machines_own_broker_alone(rabbitmq_cluster):
    assert cluster.running_nodes(NODES[0]) == list(NODES)  # the system node is not among them
    system = os.environ.get("SAGA_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    connection = pika.BlockingConnection(pika.URLParameters(system))
    connection.close()


@pytest.mark.chaos
def test_faults_on_the_cluster_lose_and_double_nothing(cluster_amqp, tmp_path):
    """The chaos run on the cluster, small: 3 engines spread over the nodes; the
    step queue's leader stops, then the next leader (no quorum left), then both
    start again; engines are SIGKILLed. ``saga_chaos --cluster`` runs it at any
    size (tests/chaos/README.md)."""
    config = ChaosConfig(
        sagas=60,
        engines=3,
        seed=5,
        kills=3,
        db_kills=1,
        duplicates=3,
        poison=3,
        start_window=25,
        broker_down=4,
        timeout=120,
        log_dir=tmp_path,
        cluster=True,
    )
    result = Scenario(config, cluster_amqp).run()
    report = f"{result.summary()}\n{result.details()}"
    print(report)
    assert result.faults["node_stop"] == 2 and result.faults["node_start"] == 2, report
    assert "broker_restart" not in result.faults, report  # the system broker is left alone
    assert result.faults["engine_kill"] >= 3, report
    stopped = [event for event in result.timeline if "node_stop" in event]
    assert "leader of the step queue" in stopped[0], report
    assert result.sagas == 60 and result.failed_starts == 0, report
    assert (result.lost, result.duplicated_effects, result.stuck) == (0, 0, 0), report
    assert result.phantom_effects == 0 and result.wrong_outcome == 0, report
    assert result.dead_letters_exact and result.dead_letters == 3, report
    assert result.kinds[FORWARD]["undone_past_pivot"] == 0, report
    assert "setup=rabbitmq-cluster-3-nodes,quorum" in result.summary(), report
    assert result.ok, report
    # Each engine started on its own node (then failed over as nodes stopped).
    first_nodes = {_first_connection(tmp_path / f"engine-{n}.log") for n in range(3)}
    assert first_nodes == set(PORTS), report


def _first_connection(log: Path) -> int:
    """The AMQP port an engine's first connection went to (its first URL)."""
    text = log.read_text()
    assert "Saga engine consuming" in text, text
    return int(SAGA_ENGINE_PORT.search(text).group(1))  # type: ignore[union-attr]


def _queue_depth(queue: str) -> int:
    for row in cluster.ctl_json(NODES[0], "list_queues", "name", "messages"):
        if row["name"] == queue:
            return int(row["messages"])
    raise LookupError(queue)


def test_moving_from_classic_to_quorum_queues_loses_no_message(
    rabbitmq_cluster, engine_process, settings
):
    """The migration of docs/how-to/scale-out.md: stop the engines on classic
    queues, start them on quorum queues of new names, shovel what the old
    queues still hold into the new ones: every step runs, once."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    classic = {**broker_names(prefix, list(URLS)), "QUEUE_TYPE": "classic"}
    quorum = {
        **classic,
        "QUEUE_TYPE": "quorum",
        "STEP_QUEUE": f"{prefix}.steps.quorum",
        "COMPENSATE_QUEUE": f"{prefix}.compensate.quorum",
        "PRIORITY_QUEUE": f"{prefix}.urgent.quorum",
        "DEAD_LETTER_EXCHANGE": f"{prefix}.dlx.quorum",
        "DEAD_LETTER_QUEUE": f"{prefix}.dead.quorum",
    }
    settings.SAGA = {**settings.SAGA, **classic}
    try:
        old = engine_process(classic, "--concurrency", "2")
        ids = _start_sagas(40, seconds=0.05)
        wait_for(lambda: Ledger.objects.count() >= 20, 30, "the first step effects")
        # 1. Stop every engine on the classic queues (they finish their steps).
        assert old.stop() == 0, old.output()
        left = _queue_depth(classic["STEP_QUEUE"])
        assert left > 0  # steps wait in the classic queue: the case to handle
        # 2. Start the engines with the quorum queues' names: they declare
        #    them, and their relays publish what the outbox still holds there.
        settings.SAGA = {**settings.SAGA, **quorum}
        engine_process(quorum, "--concurrency", "2")
        # 3. Shovel the classic queues' messages into the quorum queues.
        for kind in ("STEP_QUEUE", "COMPENSATE_QUEUE"):
            cluster.ctl(
                NODES[0],
                "set_parameter",
                "shovel",
                f"{prefix}-{kind.lower()}",
                json.dumps(
                    {
                        "src-protocol": "amqp091",
                        "src-uri": "amqp://",
                        "src-queue": classic[kind],
                        "dest-protocol": "amqp091",
                        "dest-uri": "amqp://",
                        "dest-queue": quorum[kind],
                        "src-delete-after": "queue-length",
                    }
                ),
            )
        _assert_each_step_ran_once(ids)
        # 4. The classic queues are empty: delete them.
        assert _queue_depth(classic["STEP_QUEUE"]) == 0
        assert _queue_depth(classic["COMPENSATE_QUEUE"]) == 0
    finally:
        Broker(classic).delete_topology()
        Broker(quorum).delete_topology()
