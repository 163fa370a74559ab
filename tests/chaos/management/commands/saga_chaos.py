"""``manage.py saga_chaos``: the chaos scenario at any size, on its own database.

    SAGA_TEST_DB=postgres python -m django saga_chaos --settings tests.settings \\
        --sagas 1000 [--engines 2] [--seed 1] [--no-broker-restart] [--kinds forward] ...

It drops and recreates the PostgreSQL database ``--database`` (default
``django_saga_chaos``) on the server the settings name, migrates it, runs the
scenario against it with engine subprocesses and queue names of its own
(``chaos-<random>.*``, deleted afterwards), prints the summary line, and exits
non-zero when a check fails. The database is left in place for inspection.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from tests import rabbitmq_cluster as cluster
from tests.chaos.scenario import KINDS, ROOT, ChaosConfig, Scenario, broker_names

DEFAULT_DATABASE = "django_saga_chaos"
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"
PGBOUNCER_PORT = 6432


class Command(BaseCommand):
    help = (
        "Run many sagas through engine subprocesses while killing engines, restarting "
        "RabbitMQ and cutting database connections; check every effect happened exactly "
        f"once. Recreates the database {DEFAULT_DATABASE!r} (see --database)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sagas", type=int, default=1000)
        parser.add_argument("--engines", type=int, default=2)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--concurrency", type=int, default=4, help="Per engine.")
        parser.add_argument("--kills", type=int, help="Engine SIGKILLs (default: by size).")
        parser.add_argument(
            "--db-kills", type=int, help="pg_terminate_backend rounds (default: by size)."
        )
        parser.add_argument(
            "--duplicates", type=int, help="Duplicate-message bursts (default: by size)."
        )
        parser.add_argument("--poison", type=int, help="Poison messages (default: by size).")
        parser.add_argument(
            "--no-broker-restart",
            action="store_true",
            help="Skip the RabbitMQ restart (it drops every connection on the broker).",
        )
        parser.add_argument("--broker-down", type=float, default=3.0, help="Seconds stopped.")
        parser.add_argument(
            "--start-window", type=float, help="Seconds over which sagas start (default: by size)."
        )
        parser.add_argument(
            "--timeout", type=float, default=300.0, help="Seconds to wait for the last sagas."
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DATABASE,
            help="PostgreSQL database to DROP, recreate and use.",
        )
        parser.add_argument(
            "--broker-url",
            default=None,
            help=f"RabbitMQ URL (default {DEFAULT_BROKER.replace('%', '%%')}).",
        )
        parser.add_argument(
            "--log-dir", type=Path, help="Where engine logs go (default: a temp dir)."
        )
        parser.add_argument(
            "--kinds",
            type=_kinds,
            default=KINDS,
            help=f"Kinds of saga to run, in turn, comma-separated (default: {','.join(KINDS)}).",
        )
        parser.add_argument(
            "--redrive-rate",
            type=float,
            help="Sagas a second the halted sagas are re-driven at (default: all within 4 s).",
        )
        parser.add_argument(
            "--cluster",
            action="store_true",
            help=(
                "Run on the 3-node cluster of scripts/rabbitmq-cluster (started if it is not "
                "up, and stopped afterwards then), with quorum queues and engines spread "
                "over the nodes; instead of the broker restart, the node leading the step "
                "queue stops, then the next leader, then both start again (--broker-down "
                "seconds apart)."
            ),
        )
        parser.add_argument(
            "--pgbouncer",
            nargs="?",
            type=int,
            const=PGBOUNCER_PORT,
            help=(
                f"Engines reach PostgreSQL through the PgBouncer of scripts/pgbouncer "
                f"(port {PGBOUNCER_PORT} unless given; started if it is not running, and "
                "stopped afterwards then), in transaction mode, without prepared statements."
            ),
        )
        parser.add_argument(
            "--repair-kills",
            type=int,
            default=1,
            help="Engine SIGKILLs while the halted sagas are repaired.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            raise CommandError("saga_chaos needs PostgreSQL: set SAGA_TEST_DB=postgres")
        name = options["database"]
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise CommandError(f"--database {name!r}: use lowercase letters, digits, _")
        with ExitStack() as cleanup:
            self._fresh_database(name)
            if options["pgbouncer"] is not None:
                self._start_service("pgbouncer", cleanup)
            if options["cluster"]:
                if options["broker_url"]:
                    raise CommandError("--cluster and --broker-url exclude each other")
                self._start_service("rabbitmq-cluster", cleanup)
                names = broker_names(f"chaos-{uuid.uuid4().hex[:10]}", list(cluster.URLS))
                names["QUEUE_TYPE"] = "quorum"
            else:
                url = options["broker_url"] or _broker_url()
                names = broker_names(f"chaos-{uuid.uuid4().hex[:10]}", url)
            self._run(names, options)

    def _run(self, names: dict[str, Any], options: dict[str, Any]) -> None:
        settings.SAGA = {**settings.SAGA, **names}
        config = ChaosConfig(
            sagas=options["sagas"],
            engines=options["engines"],
            seed=options["seed"],
            concurrency=options["concurrency"],
            kills=options["kills"],
            broker_restart=not options["no_broker_restart"],
            db_kills=options["db_kills"],
            duplicates=options["duplicates"],
            poison=options["poison"],
            start_window=options["start_window"],
            broker_down=options["broker_down"],
            timeout=options["timeout"],
            log_dir=options["log_dir"],
            kinds=options["kinds"],
            redrive_rate=options["redrive_rate"],
            repair_kills=options["repair_kills"],
            cluster=options["cluster"],
            pgbouncer=options["pgbouncer"],
        )
        scenario = Scenario(config, names)
        try:
            result = scenario.run()
        finally:
            scenario.broker.delete_topology()
            connections.close_all()
        self.stdout.write(result.summary())
        if options["verbosity"] > 0:
            self.stdout.write(result.details())
        if not result.ok:
            raise CommandError("chaos checks failed (see above)", returncode=1)

    def _start_service(self, which: str, cleanup: ExitStack) -> None:
        """``scripts/<which> start``; stopped on the way out if it was not running."""
        script = str(ROOT / "scripts" / which)
        was_up = subprocess.run([script, "status"], capture_output=True, check=False)
        started = subprocess.run(
            [script, "start"], capture_output=True, text=True, timeout=1000, check=False
        )
        if started.returncode != 0:
            raise CommandError(f"scripts/{which} start failed: {started.stderr or started.stdout}")
        self.stdout.write(f"scripts/{which}: {started.stdout.strip().splitlines()[0]}")
        if was_up.returncode != 0:
            cleanup.callback(
                subprocess.run, [script, "stop"], capture_output=True, timeout=300, check=False
            )

    def _fresh_database(self, name: str) -> None:
        """Drop and create ``name``, point the default connection at it, migrate."""
        connection = connections["default"]
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        settings.DATABASES["default"]["NAME"] = name
        connection.settings_dict["NAME"] = name
        call_command("migrate", verbosity=0, interactive=False)
        self.stdout.write(f"Using database {name!r} (recreated and migrated)")


def _kinds(value: str) -> tuple[str, ...]:
    kinds = tuple(kind.strip() for kind in value.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"name some of {', '.join(KINDS)}, not {value!r}")
    return kinds


def _broker_url() -> str:
    """The settings' RabbitMQ URL, or the local default when they name memory://."""
    url = str(settings.SAGA.get("BROKER_URL", ""))
    return url if url.startswith(("amqp://", "amqps://")) else DEFAULT_BROKER
