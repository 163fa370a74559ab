"""Engines behind PgBouncer in transaction mode (Debian's 1.18, ``scripts/pgbouncer``).

The test database is PostgreSQL's own (port 5432); the engine subprocesses
reach it through PgBouncer (port 6432), which hands each transaction to any
server connection. So it loses prepared statements between transactions (1.21
and later could keep them, 1.18 cannot), and a ``LISTEN`` stays on whichever
server connection ran it: the relays poll unless ``LISTEN_DATABASE`` names a
direct connection.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings

from django_saga import manager
from django_saga.models import SagaStep
from django_saga.stores.postgres import LISTENER_LOCK
from tests.chaos.scenario import ChaosConfig, Scenario
from tests.conftest import CI, ROOT, wait_for
from tests.helpers import steps, wait_terminal
from tests.testapp.models import Ledger

pytestmark = [
    pytest.mark.pgbouncer,
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]

SCRIPT = ROOT / "scripts" / "pgbouncer"
PGBOUNCER_PORT = "6432"
HOW_TO_START = (
    "install it with `apt-get install -y pgbouncer` and start it with `scripts/pgbouncer start`"
)


@pytest.fixture(scope="session")
def pgbouncer(django_db_setup) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """PgBouncer on 127.0.0.1:6432 for the session (the project's service rule:
    missing or not starting, the test fails under CI and is skipped outside).
    Stopped before the test database is dropped: its server connections would
    keep the database in use."""
    if shutil.which("pgbouncer", path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
        _missing("PgBouncer is not installed")
    started = subprocess.run(
        [str(SCRIPT), "start"], capture_output=True, text=True, timeout=30, check=False
    )
    if started.returncode != 0:
        _missing(f"PgBouncer did not start ({(started.stdout + started.stderr).strip()})")
    yield PGBOUNCER_PORT
    subprocess.run([str(SCRIPT), "stop"], capture_output=True, timeout=30, check=False)


def _missing(what: str) -> None:
    message = f"{what}: {HOW_TO_START}"
    if CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def through_pgbouncer(pgbouncer, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """Engine subprocesses started from now on connect through PgBouncer, whose
    server connections are new: an earlier test's listener lock, taken through
    PgBouncer, stays on its server connection until PgBouncer closes it."""
    with psycopg.connect(
        host="127.0.0.1",
        port=int(pgbouncer),
        user="postgres",
        dbname="pgbouncer",
        autocommit=True,
        prepare_threshold=None,
    ) as console:
        console.pgconn.exec_(b"RECONNECT")  # the console speaks the simple protocol only
    wait_for(lambda: _listener_lock_holder() is None, 10, "PgBouncer to close its connections")
    monkeypatch.setenv("SAGA_TEST_PG_PORT", pgbouncer)
    return pgbouncer


def _run_sagas(count: int) -> list[str]:
    sagas = [
        manager.start(
            "order",
            steps(("a", "test.record", "test.undo"), ("b", "test.record", "test.undo")),
        )
        for _ in range(count)
    ]
    for saga in sagas:
        assert wait_terminal(saga.id, 30).state == "completed"
    return [saga.id for saga in sagas]


def _assert_each_effect_once(saga_ids: list[str]) -> None:
    for saga_id in saga_ids:
        saga = manager.get(saga_id)
        for step in saga.steps:
            actions = list(Ledger.objects.filter(step_id=step.id).values_list("action", flat=True))
            assert actions == [f"do:{step.name}"], (saga_id, step.name, actions)


def test_sagas_complete_through_pgbouncer_without_prepared_statements(
    amqp, engine_process, through_pgbouncer
):
    engine = engine_process({**amqp, "PREPARED_STATEMENTS": False}, "--concurrency", "4")
    _assert_each_effect_once(_run_sagas(20))
    assert "prepared statements" not in engine.output()


def test_prepared_statements_lost_by_pgbouncer_fall_back_and_every_saga_runs_once(
    amqp, engine_process, through_pgbouncer
):
    """PgBouncer 1.18 passes each transaction's Parse/Bind to any server
    connection: the engine finds its statements lost, says so once, and every
    message it retries runs its step once all the same."""
    engine = engine_process({**amqp, "PREPARED_STATEMENTS": True}, "--concurrency", "4")
    _assert_each_effect_once(_run_sagas(20))
    wait_for(
        lambda: "lost django-saga's prepared statements" in engine.output(),
        5,
        "the engine to log its fallback",
    )
    assert engine.output().count("lost django-saga's prepared statements") == 1


def _listener_lock_holder() -> int | None:
    """The backend holding the relays' listener lock in the test database."""
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as connection:
        row = connection.execute(
            "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND (l.classid::bigint << 32 | l.objid::bigint) = %s",
            [LISTENER_LOCK],
        ).fetchone()
    return None if row is None else row[0]


def _seconds_to_publish() -> float:
    """How long a start() from this process waits for a relay (its first step
    runs at once once published)."""
    started = time.monotonic()
    saga = manager.start("order", steps(("a", "test.record", "test.undo")))
    assert wait_terminal(saga.id, 30).state == "completed"
    return time.monotonic() - started


def test_behind_pgbouncer_the_relays_poll(amqp, engine_process, through_pgbouncer):
    """Through transaction pooling no notification reaches the relay: a
    start() from another process is published at the relay's next poll."""
    engine_process({**amqp, "PREPARED_STATEMENTS": False, "RELAY_INTERVAL": 1.0})
    took = [_seconds_to_publish() for _ in range(3)]
    assert max(took) < 5, took


def test_the_listening_relay_goes_around_pgbouncer_with_listen_database(
    amqp, engine_process, through_pgbouncer, monkeypatch
):
    """With LISTEN_DATABASE naming a direct connection, NOTIFY wakes the relay
    at once however long its poll interval."""
    monkeypatch.setenv("SAGA_TEST_PG_LISTEN_PORT", str(settings.DATABASES["default"]["PORT"]))
    engine_process(
        {**amqp, "PREPARED_STATEMENTS": False, "RELAY_INTERVAL": 30.0, "LISTEN_DATABASE": "listen"}
    )
    wait_for(_listener_lock_holder, 10, "the relay to take the listener lock")
    took = [_seconds_to_publish() for _ in range(3)]
    assert max(took) < 5, took


@pytest.mark.chaos
def test_faults_through_pgbouncer_lose_and_double_nothing(amqp, through_pgbouncer, tmp_path):
    """The chaos run with engines behind PgBouncer, small: engines SIGKILLed,
    their server connections terminated under PgBouncer, duplicate and poison
    messages. ``saga_chaos --pgbouncer`` runs it at any size."""
    config = ChaosConfig(
        sagas=40,
        engines=2,
        seed=3,
        kills=3,
        broker_restart=False,  # the broker is not what this run is about
        db_kills=3,
        duplicates=3,
        poison=3,
        start_window=15,
        timeout=90,
        log_dir=tmp_path,
        pgbouncer=int(through_pgbouncer),
    )
    before = _pgbouncer_transactions(through_pgbouncer)
    scenario = Scenario(config, amqp)
    result = scenario.run()
    report = f"{result.summary()}\n{result.details()}"
    print(report)
    # The engines' transactions went through PgBouncer: at least one a step run.
    steps_run = SagaStep.objects.filter(
        saga_id__in=scenario.saga_ids, status__in=("completed", "compensated")
    ).count()
    assert _pgbouncer_transactions(through_pgbouncer) - before >= steps_run > 0, report
    assert result.faults["db_terminate"] == 3 and result.faults["engine_kill"] >= 3, report
    assert result.sagas == 40 and result.failed_starts == 0, report
    assert (result.lost, result.duplicated_effects, result.stuck) == (0, 0, 0), report
    assert result.phantom_effects == 0 and result.wrong_outcome == 0, report
    assert result.dead_letters_exact, report
    assert "setup=pgbouncer" in result.summary(), report
    assert result.ok, report


def _pgbouncer_transactions(port: str) -> int:
    """Transactions PgBouncer has passed to the test database (SHOW STATS)."""
    with psycopg.connect(
        host="127.0.0.1", port=int(port), user="postgres", dbname="pgbouncer", autocommit=True
    ) as console:
        stats = console.pgconn.exec_(b"SHOW STATS")  # the console speaks the simple protocol
    names = [stats.fname(column).decode() for column in range(stats.nfields)]
    for row in range(stats.ntuples):
        values = dict(
            zip(names, (stats.get_value(row, c) for c in range(stats.nfields)), strict=True)
        )
        if (values["database"] or b"").decode() == settings.DATABASES["default"]["NAME"]:
            return int(values["total_xact_count"] or 0)
    return 0
