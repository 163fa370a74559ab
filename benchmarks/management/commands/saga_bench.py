"""``manage.py saga_bench``: django-saga's throughput, latency and memory, with baselines.

    python -m django saga_bench --settings benchmarks.settings [--sagas 2000] [--steps 3]
        [--engines 2] [--concurrency 4] [--prefetch N] [--rate R] [--skip-celery]
        [--skip-dbos] [--celery-defaults] [--pairs N] [--memory] [--in-process] [--profile FILE]

It drops and recreates the PostgreSQL database ``--database`` (default
``django_saga_bench``), migrates it, measures the SQL of one saga in-process,
runs the sagas through engine subprocesses, then the same workload as Celery
chains and as DBOS workflows (through a queue, then started in the worker
itself), and prints one table. With ``--pairs N`` it does that N times on a
fresh database each time, django-saga first in odd pairs and the baselines
first in even ones, and adds each pair's throughput ratios and their medians:
on a shared machine one pair's ratio is noise as much as figure. Queues are
named ``saga-bench-<random>.*`` and deleted at the end, as is DBOS's system
database (``<database>_dbos_sys``); the database is left in place.
``--in-process`` runs neither: it measures the CPU of ``start()`` and of a
step in this process alone (``steploop.py``).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from benchmarks.profiler import profile_summary
from benchmarks.report import machine_line, pair_summary, report
from benchmarks.sqlcapture import transition_sql
from benchmarks.workload import RunResult, Workload
from django_saga.conf import saga_settings

if TYPE_CHECKING:
    from benchmarks.dbosrun import DbosTuning

DEFAULT_DATABASE = "django_saga_bench"
MEMORY_SAGAS = 20000


class Command(BaseCommand):
    help = (
        "Benchmark django-saga (engine subprocesses on PostgreSQL and RabbitMQ) against "
        f"Celery chains. Recreates the database {DEFAULT_DATABASE!r} (see --database)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sagas", type=int, help="Default 2000; 20000 with --memory.")
        parser.add_argument("--steps", type=int, default=3, help="Steps per saga.")
        parser.add_argument(
            "--engines", type=int, help="saga_engine processes: 2; 1 with --memory."
        )
        parser.add_argument(
            "--concurrency", type=int, default=4, help="Handler threads per engine."
        )
        parser.add_argument(
            "--prefetch",
            type=int,
            help="Prefetch per engine consumer (default: SAGA['PREFETCH']).",
        )
        parser.add_argument(
            "--rate", type=float, help="Sagas started per second (default: at once)."
        )
        parser.add_argument(
            "--backlog",
            action="store_true",
            help="django-saga only: start every saga in one transaction first, then time how "
            "fast the engines work through them (no process starting sagas meanwhile).",
        )
        parser.add_argument(
            "--starters",
            type=int,
            default=1,
            help="Threads starting sagas (Celery: applying chains) at once; the table gives "
            "one start()'s p50/p99.",
        )
        parser.add_argument("--skip-celery", action="store_true", help="No Celery baseline.")
        parser.add_argument("--skip-dbos", action="store_true", help="No DBOS baseline.")
        parser.add_argument(
            "--dbos-worker-concurrency",
            type=int,
            help="DBOS queue: workflows one worker claims at once (0: no limit, the default; "
            "the defaults are the best found, see the README).",
        )
        parser.add_argument(
            "--dbos-concurrency", type=int, help="DBOS queue: global concurrency (0: none)."
        )
        parser.add_argument("--dbos-polling", type=float, help="DBOS queue: seconds between polls.")
        parser.add_argument("--dbos-threads", type=int, help="DBOS executor threads.")
        parser.add_argument(
            "--pairs",
            type=int,
            default=1,
            help="Runs of django-saga and the baselines, alternating which goes first; prints "
            "the median ratios.",
        )
        parser.add_argument(
            "--celery-defaults",
            action="store_true",
            help="Also run Celery with its defaults (early ack, no publisher confirms).",
        )
        parser.add_argument("--celery-concurrency", type=int, default=2, help="Prefork processes.")
        parser.add_argument(
            "--memory",
            action="store_true",
            help="Memory mode: RSS at every 10%% of the sagas; 20000 sagas, 1 engine, no Celery.",
        )
        parser.add_argument(
            "--in-process",
            action="store_true",
            help="CPU per start() and per step in this process: no broker, engines or Celery.",
        )
        parser.add_argument(
            "--trace", action="store_true", help="Time the engines' hand-off path in segments."
        )
        parser.add_argument(
            "--limited",
            type=int,
            metavar="N",
            help="A concurrency limit of N on every benchmark action, in the engines: "
            "what a limit costs per step.",
        )
        parser.add_argument("--profile", type=Path, help="py-spy raw profile of engine 0 to FILE.")
        parser.add_argument(
            "--profile-gil", action="store_true", help="Profile only the thread holding the GIL."
        )
        parser.add_argument(
            "--timeout", type=float, default=120.0, help="Seconds without progress."
        )
        parser.add_argument(
            "--database", default=DEFAULT_DATABASE, help="Database to DROP and use."
        )
        parser.add_argument(
            "--engine-counts",
            type=_counts,
            help="Run django-saga alone with each of these numbers of engines (e.g. 1,2,4,8), "
            "each on a fresh database, and print them side by side with lock waits; "
            "--concurrency is per engine.",
        )
        parser.add_argument(
            "--history-database",
            help="Also run django-saga on this database as it is (fill it with saga_history): "
            "each pair compares its throughput with an empty database's; no Celery run.",
        )
        parser.add_argument("--broker-url", help="RabbitMQ URL (default: SAGA['BROKER_URL']).")
        parser.add_argument("--log-dir", type=Path, help="Logs (default: a temp dir).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            raise CommandError("saga_bench needs PostgreSQL")
        memory = options["memory"]
        log_dir = options["log_dir"] or Path(tempfile.mkdtemp(prefix="saga-bench-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        work = Workload(
            sagas=options["sagas"] or (MEMORY_SAGAS if memory else 2000),
            steps=options["steps"],
            engines=options["engines"] or (1 if memory else 2),
            concurrency=options["concurrency"],
            prefetch=options["prefetch"],
            rate=options["rate"],
            backlog=options["backlog"],
            starters=options["starters"],
            celery_concurrency=options["celery_concurrency"],
            timeout=options["timeout"],
            memory=memory,
            log_dir=log_dir,
            broker_url=options["broker_url"] or str(settings.SAGA["BROKER_URL"]),
            trace=options["trace"],
            limited=options["limited"],
            profile=options["profile"],
            profile_gil=options["profile_gil"],
        )
        if work.sagas < 1 or work.steps < 1 or work.engines < 1:
            raise CommandError("--sagas, --steps and --engines must be at least 1")
        with_celery = not (options["skip_celery"] or memory or work.backlog)
        with_dbos = not (options["skip_dbos"] or memory or work.backlog)
        alone = options["in_process"] or options["engine_counts"] or options["history_database"]
        tuning = _dbos_tuning(options) if with_dbos and not alone else None
        self._fresh_database(options["database"])
        if options["in_process"]:
            from benchmarks.steploop import run_step_loop

            self.stdout.write(machine_line())
            self.stdout.write(run_step_loop(work.sagas, work.steps))
            return
        rate = f"{work.rate:g}/s" if work.rate else "as fast as possible"
        self.stdout.write(
            f"{work.sagas} sagas x {work.steps} steps, started {rate}; django-saga: "
            f"{work.engines} engine(s) x concurrency {work.concurrency}, "
            f"prefetch {work.prefetch or saga_settings.PREFETCH}, "
            f"batch {saga_settings.BATCH_SIZE}; "
            f"Celery: 1 prefork worker x {work.celery_concurrency}"
            + (f"; DBOS: 1 worker, {tuning.describe()}" if tuning else "")
        )
        self.stdout.write(machine_line())
        self.stdout.write(f"logs: {log_dir}")
        sql = transition_sql(work.steps)

        if options["engine_counts"]:
            self._engine_counts(work, options["database"], options["engine_counts"])
            return
        if options["history_database"]:
            self._history_pairs(work, options["database"], options["history_database"],
                                options["pairs"])  # fmt: skip
            return
        if options["pairs"] < 1 or (options["pairs"] > 1 and not (with_celery or tuning)):
            raise CommandError("--pairs takes a count of at least 1, and a baseline")
        runs: list[list[RunResult]] = []
        for n in range(options["pairs"]):
            if n:
                self._fresh_database(options["database"])
            runs.append(
                self._run_pair(work, with_celery, options["celery_defaults"], tuning, n % 2 == 1)
            )
        results = runs[-1]
        connections.close_all()
        self.stdout.write("")
        self.stdout.write(report(work, results, sql, verbose=options["verbosity"] > 1))
        if len(runs) > 1:
            self.stdout.write("")
            self.stdout.write(pair_summary(runs))
        if work.profile is not None:
            self.stdout.write("")
            which = "the thread holding the GIL" if work.profile_gil else "non-idle threads"
            self.stdout.write(f"py-spy profile of engine 0, {which} ({work.profile}):")
            self.stdout.write(profile_summary(work.profile))
        if any(r.completed < work.sagas for pair in runs for r in pair):
            raise CommandError("not every saga completed (see above)", returncode=1)

    def _run_pair(
        self,
        work: Workload,
        with_celery: bool,
        celery_defaults: bool,
        dbos: DbosTuning | None,
        baselines_first: bool,
    ) -> list[RunResult]:
        """django-saga's result, then Celery's (acks late; its defaults too if asked), then
        DBOS's (client and queue, then in-process)."""
        from benchmarks.sagarun import run_sagas

        def saga() -> RunResult:
            self.stdout.write("running django-saga ...")
            return run_sagas(work)

        def baselines() -> list[RunResult]:
            results = []
            if with_celery:
                from benchmarks.celeryrun import run_celery

                for defaults in [False, True] if celery_defaults else [False]:
                    self.stdout.write(f"running Celery{' (defaults)' if defaults else ''} ...")
                    results.append(run_celery(work, defaults))
            if dbos is not None:
                from benchmarks.dbosrun import run_dbos

                for in_process in (False, True):
                    how = "in-process" if in_process else "client+queue"
                    self.stdout.write(f"running DBOS ({how}) ...")
                    results.append(run_dbos(work, in_process, dbos))
            return results

        if baselines_first:
            others = baselines()
            return [saga(), *others]
        first = saga()
        return [first, *baselines()]

    def _history_pairs(self, work: Workload, empty: str, history: str, pairs: int) -> None:
        """django-saga on an empty database and on one full of history, side by side."""
        from benchmarks.sagarun import run_sagas

        if pairs < 1:
            raise CommandError("--pairs takes a count of at least 1")
        ratios = []
        for n in range(pairs):
            results: dict[str, RunResult] = {}
            order = (empty, history) if n % 2 == 0 else (history, empty)
            for name in order:
                if name == empty:
                    self._fresh_database(name)
                else:
                    self._use_database(name)
                self.stdout.write(f"running django-saga on {name} ...")
                results[name] = run_sagas(work)
            rate = {k: r.completed / r.elapsed for k, r in results.items()}
            ratios.append(rate[history] / rate[empty])
            self.stdout.write(
                f"  pair {n + 1} ({order[0]} first): {rate[history]:.1f} / {rate[empty]:.1f} "
                f"sagas/s = x{ratios[-1]:.3f}"
            )
        connections.close_all()
        self.stdout.write(
            f"throughput with history / on an empty database, median of {pairs}: "
            f"x{statistics.median(ratios):.3f}"
        )

    def _engine_counts(self, work: Workload, database: str, counts: list[int]) -> None:
        """django-saga alone with 1, 2, 4... engines: does adding engines help or hurt?"""
        from benchmarks.sagarun import run_sagas

        results = []
        for n, count in enumerate(counts):
            if n:
                self._fresh_database(database)
            self.stdout.write(f"running django-saga with {count} engine(s) ...")
            result = run_sagas(replace(work, engines=count))
            result.label = f"{count} engine{'s' if count > 1 else ''}"
            results.append(result)
        connections.close_all()
        self.stdout.write("")
        self.stdout.write(report(work, results, [], compare=False))
        base = results[0].completed / results[0].elapsed
        self.stdout.write(
            "sagas/s relative to the first: "
            + ", ".join(f"{r.label} x{r.completed / r.elapsed / base:.2f}" for r in results)
        )
        if any(r.completed < work.sagas for r in results):
            raise CommandError("not every saga completed (see above)", returncode=1)

    def _use_database(self, name: str) -> None:
        """Point the default connection at ``name`` as it is, and migrate it."""
        connection = connections["default"]
        connection.close()
        settings.DATABASES["default"]["NAME"] = name
        connection.settings_dict["NAME"] = name
        call_command("migrate", verbosity=0, interactive=False)

    def _fresh_database(self, name: str) -> None:
        """Drop and create ``name``, point the default connection at it, migrate."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise CommandError(f"--database {name!r}: use lowercase letters, digits, _")
        connection = connections["default"]
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        settings.DATABASES["default"]["NAME"] = name
        connection.settings_dict["NAME"] = name
        call_command("migrate", verbosity=0, interactive=False)
        self.stdout.write(f"database {name!r} recreated and migrated")


def _dbos_tuning(options: dict[str, Any]) -> DbosTuning:
    """The DBOS worker's settings: the best found (``DbosTuning``'s defaults) unless given."""
    try:
        from benchmarks.dbosrun import DbosTuning
    except ImportError as exc:
        raise CommandError(
            f"the DBOS baseline needs the dbos package ({exc}): pip install -e '.[bench]', "
            "or pass --skip-dbos"
        ) from exc
    tuning = DbosTuning()
    if options["dbos_worker_concurrency"] is not None:
        tuning.worker_concurrency = options["dbos_worker_concurrency"] or None
    if options["dbos_concurrency"] is not None:
        tuning.concurrency = options["dbos_concurrency"] or None
    if options["dbos_polling"] is not None:
        tuning.polling = options["dbos_polling"]
    if options["dbos_threads"] is not None:
        tuning.threads = options["dbos_threads"]
    return tuning


def _counts(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"give engine counts like 1,2,4,8, not {value!r}")
    return counts
