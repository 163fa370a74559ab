"""Shared fixtures: engines in threads or subprocesses, isolated broker names.

Service rule: a test that needs RabbitMQ or PostgreSQL and cannot reach it
FAILS when ``CI`` is set, with a message naming the service and how to start
it; outside CI it is skipped with the same message.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings

from django_saga.engine import Engine

# The saga_kit fixture, as a project opts in to it.
pytest_plugins = ["django_saga.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent
CI = bool(os.environ.get("CI"))
RABBITMQ_URL = os.environ.get("SAGA_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
HOW_TO_START = {
    "RabbitMQ": "start it with `rabbitmq-server -detached`",
    "PostgreSQL": "start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
}


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def _service_missing(service: str, where: str) -> None:
    message = f"{service} is not reachable at {where}: {HOW_TO_START[service]}"
    if CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def on_postgres() -> bool:
    return django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_sessionstart(session: pytest.Session) -> None:
    if on_postgres():
        db = django_settings.DATABASES["default"]
        if not _reachable(db["HOST"], int(db["PORT"])):
            message = (
                f"SAGA_TEST_DB=postgres but PostgreSQL is not reachable at "
                f"{db['HOST']}:{db['PORT']}: {HOW_TO_START['PostgreSQL']}"
            )
            pytest.exit(message, returncode=3)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if on_postgres():
        return
    # Row locks are a no-op on SQLite: these tests run in the PostgreSQL pass.
    deselected = [item for item in items if item.get_closest_marker("postgres")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]


@pytest.fixture(autouse=True)
def _require_services(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("rabbitmq"):
        parts = urlsplit(RABBITMQ_URL)
        host, port = parts.hostname or "127.0.0.1", parts.port or 5672
        if not _reachable(host, port):
            _service_missing("RabbitMQ", f"{host}:{port}")


@pytest.fixture(autouse=True)
def _own_memory_broker(settings) -> None:  # type: ignore[no-untyped-def]
    """Each test gets a fresh in-process broker (and a fresh memory store)."""
    settings.SAGA = {**settings.SAGA, "BROKER_URL": f"memory://{uuid.uuid4().hex}"}


@pytest.fixture
def amqp(settings) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Point django-saga at the real RabbitMQ with names no other test uses."""
    from tests.chaos.scenario import Broker, broker_names

    names = broker_names(f"test-{uuid.uuid4().hex[:10]}", RABBITMQ_URL)
    settings.SAGA = {**settings.SAGA, **names}
    yield names
    Broker(names).delete_topology()


@pytest.fixture
def run_engine() -> Iterator[Callable[..., Engine]]:
    """Start engines in threads of this process; stopped and joined at teardown."""
    running: list[tuple[Engine, threading.Thread]] = []
    errors: list[BaseException] = []

    def start(**options: object) -> Engine:
        engine = Engine(**options)  # type: ignore[arg-type]

        def target() -> None:
            try:
                engine.run()
            except BaseException as exc:  # surfaced at teardown
                errors.append(exc)
                engine.ready.set()

        thread = threading.Thread(target=target, name="test-engine", daemon=True)
        thread.start()
        assert engine.ready.wait(10), "engine did not start within 10s"
        if errors:
            raise errors[0]
        running.append((engine, thread))
        return engine

    yield start
    for engine, _ in running:
        engine.stop()
    for _, thread in running:
        thread.join(timeout=15)
        assert not thread.is_alive(), "engine thread did not stop"
    if errors:
        raise errors[0]


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    """Poll until ``predicate()`` is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.05)


class EngineProcess:
    """``manage.py saga_engine`` in a subprocess against the test database."""

    def __init__(self, saga_overrides: dict[str, str], *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["SAGA_TEST_USE_TEST_DB"] = django_settings.DATABASES["default"]["NAME"]
        env["SAGA_TEST_OVERRIDES"] = repr(saga_overrides)
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"engine-{uuid.uuid4().hex}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "django", "saga_engine", "--settings", "tests.settings", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def wait_ready(self, timeout: float = 20) -> None:
        wait_for(
            lambda: b"consuming" in self.output_bytes() or self.process.poll() is not None,
            timeout,
            "the engine subprocess to start consuming",
        )
        assert self.process.poll() is None, f"engine exited early:\n{self.output()}"

    def output_bytes(self) -> bytes:
        return self.log_path.read_bytes()

    def output(self) -> str:
        return self.output_bytes().decode(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code


@pytest.fixture
def engine_process() -> Iterator[Callable[..., EngineProcess]]:
    started: list[EngineProcess] = []

    def start(overrides: dict[str, str], *args: str) -> EngineProcess:
        process = EngineProcess(overrides, *args)
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.stop()
