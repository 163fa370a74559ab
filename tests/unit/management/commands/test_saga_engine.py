"""``manage.py saga_engine``: runs sagas until a signal stops it, refuses to start
with an exit status of its own when the broker cannot be reached, serves its
metrics on localhost unless told otherwise, and logs to stderr unless the project
configured logging."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from django_saga import Step, manager
from django_saga.management.commands.saga_engine import EXIT_BROKER, _configure_logging
from django_saga.models import Saga


def terminate_when(done: Callable[[], bool], timeout: float = 20.0) -> threading.Thread:
    """From another thread: SIGTERM to this process once ``done()`` holds, or at ``timeout``."""

    def watch() -> None:
        try:
            deadline = time.monotonic() + timeout
            while not done() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            connections.close_all()
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="terminate-when", daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_the_engine_runs_sagas_until_sigterm_then_returns_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    saga = manager.start("order", [Step("a", "test.record", ""), Step("b", "test.record", "")])

    def completed() -> bool:
        return Saga.objects.get(pk=saga.id).state == "completed"

    watcher = terminate_when(completed)
    call_command("saga_engine", "--concurrency", "2")  # returns once SIGTERM stops it
    watcher.join(5)
    assert completed()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.django_db
def test_an_unreachable_broker_exits_2_naming_the_setting_but_not_its_password(settings):
    settings.SAGA = {**settings.SAGA, "BROKER_URL": "amqp://saga:hunter2@127.0.0.1:1/%2F"}
    with pytest.raises(CommandError) as info:
        call_command("saga_engine")
    assert info.value.returncode == EXIT_BROKER == 2
    message = str(info.value)
    assert message.startswith("Cannot connect to RabbitMQ at amqp://saga:***@127.0.0.1:1/")
    assert "Is RabbitMQ running? Check SAGA['BROKER_URL'] (now amqp://saga:***@" in message
    assert "hunter2" not in message


@pytest.mark.django_db
def test_an_engine_that_cannot_start_gives_its_metrics_port_back(settings):
    settings.SAGA = {**settings.SAGA, "BROKER_URL": "amqp://guest:guest@127.0.0.1:1/%2F"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CommandError):
        call_command("saga_engine", "--metrics-port", str(port))
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # free: the metrics server was shut down


@pytest.mark.parametrize(
    ("option", "value"),
    [("--concurrency", "many"), ("--prefetch", "1.5"), ("--shutdown-grace", "soon")],
)
def test_an_option_that_is_not_a_number_is_refused_naming_it(option, value):
    with pytest.raises(CommandError, match=f"argument {option}: invalid"):
        call_command("saga_engine", option, value)


@pytest.fixture
def unconfigured_logging(monkeypatch):
    """No handler on the root logger or django-saga's: as a project without LOGGING.

    Returns the function that takes the root logger's handlers away: pytest
    gives it one of its own for the test's run, after the fixtures.
    """
    logger = logging.getLogger("django_saga")
    monkeypatch.setattr(logger, "handlers", [])
    level = logger.level

    def unconfigure() -> logging.Logger:
        monkeypatch.setattr(logging.getLogger(), "handlers", [])
        return logger

    yield unconfigure
    logger.setLevel(level)


@pytest.mark.parametrize(("verbosity", "level"), [(1, logging.INFO), (3, logging.DEBUG)])
def test_without_logging_configured_the_engine_logs_to_stderr(
    unconfigured_logging, verbosity, level
):
    logger = unconfigured_logging()
    _configure_logging(verbosity)
    [handler] = logger.handlers
    assert type(handler) is logging.StreamHandler
    assert logger.level == level


def test_a_projects_own_logging_is_left_alone(unconfigured_logging):
    logger = unconfigured_logging()
    own = logging.NullHandler()
    logger.addHandler(own)
    logger.setLevel(logging.WARNING)
    _configure_logging(3)
    assert logger.handlers == [own]
    assert logger.level == logging.WARNING


def test_saga_engine_has_a_metrics_address_option():
    from django_saga.management.commands.saga_engine import Command

    parser = Command().create_parser("manage.py", "saga_engine")
    assert parser.parse_args(["--metrics-port", "9"]).metrics_address == "127.0.0.1"
    assert parser.parse_args(["--metrics-address", "0.0.0.0"]).metrics_address == "0.0.0.0"
