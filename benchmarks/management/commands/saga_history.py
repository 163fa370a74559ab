"""``saga_history``: a database with a month of saga history, and the operator pages timed on it.

    python -m django saga_history fill --sagas 1000000 --settings benchmarks.history_settings
    python -m django saga_history pages --settings benchmarks.history_settings
    python -m django saga_history sizes --settings benchmarks.history_settings

``fill`` adds sagas (with their steps) to the database ``django_saga_history``
(``--reset`` drops it first), spread over the last ``--days`` days, with one
``INSERT ... SELECT`` per 100,000 sagas: about a minute per million on two
cores. ``pages`` times every console, JSON API, metrics and admin page a
superuser opens and prints p50/p95 and queries per page. This module holds the
options; the work is in ``benchmarks/history_*.py``, one module per action.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from benchmarks.history_fill import fill
from benchmarks.history_month import autovacuum, month
from benchmarks.history_pages import time_pages
from benchmarks.history_sizes import table_sizes


class Command(BaseCommand):
    help = "Fill a database with saga history, time the operator pages on it, or show sizes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            choices=["fill", "pages", "month", "sizes"],
            help="fill: add finished sagas; pages: time every operator page; month: a month "
            "of new sagas and daily purges, with the tables' size; sizes: the tables.",
        )
        parser.add_argument("--sagas", type=int, default=1_000_000, help="fill: how many.")
        parser.add_argument("--days", type=float, default=30.0, help="fill: over so many days.")
        parser.add_argument("--reset", action="store_true", help="fill: drop the database first.")
        parser.add_argument("--jobs", type=int, default=1, help="fill: connections at once.")
        parser.add_argument("--rounds", type=int, default=10, help="month: purge rounds.")
        parser.add_argument(
            "--wait", type=float, default=180.0, help="month: most seconds to wait for autovacuum."
        )
        parser.add_argument(
            "--autovacuum",
            choices=["server", "on"],
            default="server",
            help="month: the server's autovacuum setting as it is, or on for the run "
            "(ALTER SYSTEM, restored at the end)",
        )
        parser.add_argument("--runs", type=int, default=5, help="pages: timed requests a page.")
        parser.add_argument("--only", help="pages: only those whose label contains this.")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "saga_history needs PostgreSQL (--settings benchmarks.history_settings)"
            )
        action = options["action"]
        if action == "fill":
            fill(self.stdout, options["sagas"], options["days"], options["reset"], options["jobs"])
        elif action == "pages":
            time_pages(self.stdout, options["runs"], options["only"] or "")
        elif action == "month":
            with autovacuum(self.stdout, options["autovacuum"] == "on"):
                days, rounds = options["days"], options["rounds"]
                month(self.stdout, days, rounds, options["wait"], options["jobs"])
        self.stdout.write(table_sizes())
