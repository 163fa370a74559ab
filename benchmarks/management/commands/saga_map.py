"""``manage.py saga_map``: a map stage against a parallel stage of the same steps.

    python -m django saga_map --settings benchmarks.settings [--items 1000]
        [--rounds 3] [--engines 1] [--concurrency 8] [--map-only]
        [--database django_saga_map_bench]

Each round runs one saga with a parallel stage of ``--items`` declared steps
and one with a map of as many items, in alternating order, each on engines
of its own (``map_run``), and prints their wall time, CPU per step (the
engines' and their PostgreSQL backends'), and the engines' RSS growth; then
the median ratio map / parallel of CPU per step. ``--map-only`` runs the
map alone (a list too long for a parallel stage: its RSS growth is the
figure). The database is dropped and recreated once.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmarks.management.commands.saga_bench import Command as BenchCommand
from benchmarks.map_run import WideRun, run_wide
from benchmarks.time_engines import check_services, machine_note

DEFAULT_DATABASE = "django_saga_map_bench"


class Command(BaseCommand):
    help = "A map stage of n items against a parallel stage of n steps: time, CPU, RSS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--items", type=int, default=1000, help="Items (steps) wide.")
        parser.add_argument("--rounds", type=int, default=3, help="Pairs of runs.")
        parser.add_argument("--engines", type=int, default=1, help="saga_engine processes.")
        parser.add_argument("--concurrency", type=int, default=8, help="Threads per engine.")
        parser.add_argument("--map-only", action="store_true", help="No parallel stage.")
        parser.add_argument("--timeout", type=float, default=600.0, help="Seconds a run may take.")
        parser.add_argument(
            "--database", default=DEFAULT_DATABASE, help="Database to DROP and use."
        )
        parser.add_argument("--broker-url", help="RabbitMQ URL (default: SAGA['BROKER_URL']).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            raise CommandError("saga_map needs PostgreSQL")
        if options["items"] < 1 or options["rounds"] < 1:
            raise CommandError("--items and --rounds take 1 or more")
        broker_url = options["broker_url"] or str(settings.SAGA["BROKER_URL"])
        check_services(broker_url)
        say = self.stdout.write
        say(machine_note())
        BenchCommand(stdout=self.stdout, stderr=self.stderr)._fresh_database(options["database"])
        log_dir = Path(tempfile.mkdtemp(prefix="saga-map-"))
        shapes = ["map"] if options["map_only"] else ["parallel", "map"]
        runs: list[WideRun] = []
        for n in range(options["rounds"]):
            order = shapes if n % 2 == 0 else shapes[::-1]
            for shape in order:
                say(f"round {n + 1}: {shape} of {options['items']} ...")
                run = run_wide(
                    shape, options["items"], options["engines"], options["concurrency"],
                    log_dir, broker_url, options["timeout"], say,
                )  # fmt: skip
                say(
                    f"  {run.state} in {run.seconds:.1f} s; CPU per step {run.cpu_per_step_ms:.2f} "
                    f"ms (engines {run.engines_cpu:.1f} s, PostgreSQL {run.postgres_cpu:.1f} s); "
                    f"engines' RSS {run.rss_before:.0f} -> {run.rss_peak:.0f} MB "
                    f"(+{run.rss_growth:.1f})"
                )
                runs.append(run)
        if any(r.state != "completed" for r in runs):
            raise CommandError("a saga did not complete (see above)", returncode=1)
        if not options["map_only"]:
            ratios = []
            for pair in zip(runs[0::2], runs[1::2], strict=True):
                by_shape = {run.shape: run for run in pair}
                ratios.append(
                    by_shape["map"].cpu_per_step_ms / by_shape["parallel"].cpu_per_step_ms
                )
            say(
                "CPU per step, map / parallel stage: "
                + ", ".join(f"x{r:.2f}" for r in ratios)
                + f"; median x{statistics.median(ratios):.2f}"
            )
        growth = max(r.rss_growth for r in runs if r.shape == "map")
        say(f"largest RSS growth of the engines during a map: {growth:.1f} MB")
