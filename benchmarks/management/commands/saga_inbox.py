"""``manage.py saga_inbox``: the inbox with many open tasks.

    python -m django saga_inbox --settings benchmarks.history_settings [--tasks 100000]
        [--users 100] [--groups 10] [--runs 20] [--database django_saga_inbox]

Drops and recreates ``--database``, writes the users, groups and open tasks
(``benchmarks/inbox.py``), then times the inbox's boxes, a task's page,
the JSON API's list and a console page for three users: p50, p95 and the
queries each costs. Exits with status 1 if a p95 is over ``--limit`` ms.
The history settings bring the console's apps, middleware and URLs.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmarks.inbox import fill, time_pages
from benchmarks.management.commands.saga_bench import Command as BenchCommand
from benchmarks.time_engines import machine_note

DEFAULT_DATABASE = "django_saga_inbox"


class Command(BaseCommand):
    help = "Open tasks in bulk, then the inbox's pages timed: p50, p95, queries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tasks", type=int, default=100_000, help="Open tasks.")
        parser.add_argument("--users", type=int, default=100, help="Users.")
        parser.add_argument("--groups", type=int, default=10, help="Groups.")
        parser.add_argument("--runs", type=int, default=20, help="Timed requests of each page.")
        parser.add_argument("--limit", type=float, default=300.0, help="The p95 allowed, ms.")
        parser.add_argument(
            "--database", default=DEFAULT_DATABASE, help="Database to DROP and use."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            raise CommandError("saga_inbox needs PostgreSQL")
        say = self.stdout.write
        say(machine_note())
        BenchCommand(stdout=self.stdout, stderr=self.stderr)._fresh_database(options["database"])
        say(f"writing {options['tasks']:,} open tasks, {options['users']} users, "
            f"{options['groups']} groups ...")  # fmt: skip
        fill(options["tasks"], options["users"], options["groups"], say)
        say(f"timing each page {options['runs']} times:")
        worst = time_pages(options["runs"], say)
        say(f"slowest p95: {worst:.1f} ms (limit {options['limit']:.0f} ms)")
        if worst > options["limit"]:
            raise CommandError("an inbox page is over the limit", returncode=1)
