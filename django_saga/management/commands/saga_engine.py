"""``manage.py saga_engine``: run the orchestration engine until a signal stops it."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from django_saga.checks import unapplied_message, unapplied_migrations, uses_tables
from django_saga.conf import safe_url, saga_settings
from django_saga.engine import Engine
from django_saga.errors import BrokerUnavailable

EXIT_BROKER = 2
EXIT_DATABASE = 3
#: django-saga's migrations are not applied to its database.
EXIT_MIGRATIONS = 5


@contextmanager
def stop_on_signals(engine: Engine) -> Iterator[None]:
    """First SIGINT/SIGTERM: finish in-flight steps and exit. Second: exit at once."""
    received: list[int] = []

    def handle(signum: int, frame: Any) -> None:
        if received:
            sys.stderr.write("Second signal: exiting now; unacked messages will be redelivered\n")
            os._exit(1)
        received.append(signum)
        logging.getLogger("django_saga.engine").info(
            "%s received: finishing in-flight steps (send again to exit at once)",
            signal.Signals(signum).name,
        )
        engine.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Command(BaseCommand):
    help = "Run the saga orchestration engine: consume step and compensation messages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", type=int, help="Handler threads (SAGA CONCURRENCY).")
        parser.add_argument("--prefetch", type=int, help="Unacked messages (SAGA PREFETCH).")
        parser.add_argument(
            "--batch-size",
            type=int,
            help="Most messages recorded in one transaction (SAGA BATCH_SIZE).",
        )
        parser.add_argument(
            "--shutdown-grace",
            type=float,
            help="Seconds in-flight steps get after SIGTERM (SAGA SHUTDOWN_GRACE).",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            help="Serve Prometheus metrics on this port at /metrics (needs the metrics extra).",
        )
        parser.add_argument(
            "--metrics-address",
            default="127.0.0.1",
            help="Address the metrics port listens on (default 127.0.0.1; 0.0.0.0 for all). "
            "Set SAGA['METRICS_TOKEN'] before opening it to other hosts.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        _configure_logging(options["verbosity"])
        try:
            connections["default"].ensure_connection()
        except DatabaseError as exc:
            raise CommandError(
                f"Cannot reach the database: {exc}".strip(), returncode=EXIT_DATABASE
            ) from exc
        _refuse_unmigrated()
        # Before the broker: a port already in use stops the engine at once.
        metrics_server = _serve_metrics(options["metrics_port"], options["metrics_address"])
        try:
            engine = Engine(
                concurrency=options["concurrency"],
                prefetch=options["prefetch"],
                batch_size=options["batch_size"],
                shutdown_grace=options["shutdown_grace"],
            )
            _connect(engine)
            with stop_on_signals(engine):
                try:
                    engine.run()
                except BrokerUnavailable as exc:
                    raise CommandError(str(exc), returncode=EXIT_BROKER) from exc
        finally:
            # However the engine ends, the port is given back (a command
            # called in a process that goes on must not leave it bound).
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()


def _connect(engine: Engine) -> None:
    """Connect the engine to the broker, or stop with a sentence saying what to check."""
    try:
        engine.connect()
    except BrokerUnavailable as exc:
        question = (
            "RabbitMQ runs but refused the login or the virtual host: check the user, "
            "password and vhost in"
            if exc.refused
            else "Is RabbitMQ running? Check"
        )
        raise CommandError(
            f"{exc}. {question} SAGA['BROKER_URL'] (now {safe_url(saga_settings.BROKER_URL)}).",
            returncode=EXIT_BROKER,
        ) from exc


def _refuse_unmigrated() -> None:
    """Stop at once if django-saga's tables are missing or out of date.

    Without this the engine would start consuming, then fail on every
    message and every sweep with an error about a missing relation.
    """
    if not uses_tables():
        return
    try:
        alias, names = unapplied_migrations()
    except DatabaseError as exc:
        raise CommandError(
            f"Cannot read the applied migrations: {exc}".strip(), returncode=EXIT_DATABASE
        ) from exc
    if names:
        raise CommandError(unapplied_message(alias, names), returncode=EXIT_MIGRATIONS)


def _serve_metrics(port: int | None, address: str) -> Any:
    """Start the metrics endpoint if ``--metrics-port`` asks for one."""
    if port is None:
        return None
    from django_saga import metrics

    try:
        server = metrics.serve(port, address)
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        raise CommandError(f"Cannot serve metrics on {address}:{port}: {exc}") from exc
    logging.getLogger("django_saga.engine").info(
        "Serving metrics on %s:%d at /metrics%s",
        address,
        server.server_address[1],
        "" if saga_settings.METRICS_TOKEN else " (no METRICS_TOKEN: open to whoever reaches it)",
    )
    return server


def _configure_logging(verbosity: int) -> None:
    """Give the engine's loggers a handler unless the project configured one."""
    logger = logging.getLogger("django_saga")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 2 else logging.INFO)
