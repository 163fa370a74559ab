"""``manage.py saga_time``: durable sleeps and schedules at scale.

    python -m django saga_time --settings benchmarks.settings [--sleepers 100000]
        [--burst 10000] [--schedules 10000] [--engines 1] [--concurrency 8]
        [--window 60] [--database django_saga_time_bench] [--profile DIR [--profile-gil]]

Three measurements, in order on one fresh database (``--database``, dropped
and recreated as ``saga_bench`` does, once a run), each with engines of its
own; the burst and the schedules find the sleepers still asleep, and saga
tables that are not empty (see ``time_schedules``):

1. the idle cost of sleepers (``time_sleepers``): engine CPU over a window
   with no saga, then with ``--sleepers`` sagas asleep for days, and the
   sweeper's and relay's periodic queries at that size;
2. a burst (``time_burst``): ``--burst`` sleeps all due in the same second,
   and how late each wake was dispatched;
3. schedules (``time_schedules``): ``--schedules`` schedules due at the same
   tick, and how late each one's run started.

A measurement given 0 is skipped. Queues are named ``saga-bench-<random>.*``
and deleted whenever engines stop; the database is left in place.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from benchmarks.management.commands.saga_bench import Command as BenchCommand
from benchmarks.profiler import profile_summary
from benchmarks.time_burst import Burst, measure_burst
from benchmarks.time_engines import check_services, machine_note
from benchmarks.time_report import burst_lines, schedules_lines, sleepers_lines, summary
from benchmarks.time_schedules import Ticks, measure_schedules
from benchmarks.time_sleepers import Sleepers, measure_sleepers

DEFAULT_DATABASE = "django_saga_time_bench"


class Command(BaseCommand):
    help = (
        "Measure durable sleeps and schedules at scale: the idle cost of sleepers, a burst "
        f"of wakes, many schedules at one tick. Recreates the database {DEFAULT_DATABASE!r}."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sleepers", type=int, default=100_000, help="Sagas asleep for days.")
        parser.add_argument("--burst", type=int, default=10_000, help="Sleeps due in one second.")
        parser.add_argument("--schedules", type=int, default=10_000, help="Schedules at one tick.")
        parser.add_argument("--engines", type=int, default=1, help="saga_engine processes.")
        parser.add_argument("--concurrency", type=int, default=8, help="Threads per engine.")
        parser.add_argument(
            "--window", type=float, default=60.0, help="Seconds of each idle CPU window."
        )
        parser.add_argument(
            "--timeout", type=float, default=180.0, help="Seconds without progress."
        )
        parser.add_argument(
            "--database", default=DEFAULT_DATABASE, help="Database to DROP and use."
        )
        parser.add_argument(
            "--profile",
            type=Path,
            help="py-spy raw profiles of engine 0 during the burst and the tick, in DIR.",
        )
        parser.add_argument(
            "--profile-gil", action="store_true", help="Profile only the thread holding the GIL."
        )
        parser.add_argument("--broker-url", help="RabbitMQ URL (default: SAGA['BROKER_URL']).")
        parser.add_argument("--log-dir", type=Path, help="Logs (default: a temp dir).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            raise CommandError("saga_time needs PostgreSQL")
        counts = [options[k] for k in ("sleepers", "burst", "schedules")]
        if min(counts) < 0 or options["engines"] < 1 or options["concurrency"] < 1:
            raise CommandError("counts must be 0 or more, --engines and --concurrency 1 or more")
        broker_url = options["broker_url"] or str(settings.SAGA["BROKER_URL"])
        check_services(broker_url)
        log_dir = options["log_dir"] or Path(tempfile.mkdtemp(prefix="saga-time-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        profile_dir = options["profile"]
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
        machine = machine_note()
        engines, concurrency = options["engines"], options["concurrency"]
        say = self.stdout.write
        say(machine)
        say(f"{engines} engine(s) x concurrency {concurrency}; logs: {log_dir}")
        common = {
            "engines": engines,
            "concurrency": concurrency,
            "log_dir": log_dir,
            "broker_url": broker_url,
            "timeout": options["timeout"],
            "say": say,
        }
        sleepers: Sleepers | None = None
        burst: Burst | None = None
        ticks: Ticks | None = None
        self._fresh(options["database"])
        if options["sleepers"]:
            sleepers = measure_sleepers(options["sleepers"], window=options["window"], **common)
            self._section(sleepers_lines(sleepers))
        if options["burst"]:
            per_saga = sleepers.started.per_saga if sleepers and sleepers.started else None
            burst = measure_burst(
                options["burst"],
                per_saga=per_saga,
                profile=profile_dir / "burst.raw" if profile_dir else None,
                profile_gil=options["profile_gil"],
                **common,
            )
            self._section(burst_lines(burst))
        if options["schedules"]:
            ticks = measure_schedules(
                options["schedules"],
                profile=profile_dir / "schedules.raw" if profile_dir else None,
                profile_gil=options["profile_gil"],
                **common,
            )
            self._section(schedules_lines(ticks))
        connections.close_all()
        after = machine_note(2.0, "after the run")
        self._section(summary(after, engines, concurrency, sleepers, burst, ticks))
        if profile_dir is not None:
            for name in ("burst", "schedules"):
                path = profile_dir / f"{name}.raw"
                if path.exists():
                    self._section([f"py-spy profile of engine 0, {name}:", profile_summary(path)])
        held = [r.held for r in (sleepers, burst, ticks) if r is not None]
        if not all(held):
            raise CommandError("a requirement was not met (see the table)", returncode=1)

    def _fresh(self, name: str) -> None:
        BenchCommand(stdout=self.stdout, stderr=self.stderr)._fresh_database(name)

    def _section(self, lines: list[str]) -> None:
        self.stdout.write("")
        for line in lines:
            self.stdout.write(line)
