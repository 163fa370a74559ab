"""``saga_history``: a database with a month of saga history, and the operator pages timed on it.

    python -m django saga_history fill --sagas 1000000 --settings benchmarks.history_settings
    python -m django saga_history pages --settings benchmarks.history_settings
    python -m django saga_history sizes --settings benchmarks.history_settings

``fill`` adds sagas (with their steps) to the database ``django_saga_history``
(``--reset`` drops it first), spread over the last ``--days`` days, with one
``INSERT ... SELECT`` per 100,000 sagas: about a minute per million on two
cores. ``pages`` times every console, JSON API, metrics and admin page a
superuser opens and prints p50/p95 and queries per page.
"""

from __future__ import annotations

import re
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from benchmarks.report import machine_line

#: Saga names of a mid-size shop, and how often each is started (weights).
NAMES = {
    "order.checkout": 40,
    "payment.capture": 20,
    "shipment.book": 15,
    "order.refund": 8,
    "subscription.renew": 8,
    "invoice.issue": 5,
    "inventory.restock": 3,
    "account.close": 1,
}
#: Final states of sagas older than an hour, per 10,000.
STATES = (
    ("completed", 9650),
    ("compensated", 250),
    ("failed", 70),
    ("compensation_failed", 30),
)
CHUNK = 100_000
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#: Step statuses by saga state, step by step (three steps a saga).
STEP_STATUS = {
    "completed": ("completed", "completed", "completed"),
    "compensated": ("compensated", "compensated", "failed"),
    "failed": ("completed", "completed", "failed"),
    "compensation_failed": ("compensation_failed", "compensated", "failed"),
    "started": ("completed", "started", "pending"),
    "compensating": ("compensating", "compensated", "failed"),
}


def _ulid(ts: str, salt: str) -> str:
    """SQL for a ULID of time ``ts``: 10 characters of milliseconds, 16 of md5 (hex is
    a subset of the ULID alphabet), so ids sort by time as the engine's do."""
    ms = f"(extract(epoch FROM {ts}) * 1000)::bigint"
    time_part = " || ".join(
        f"substr('{ALPHABET}', ((({ms}) >> {shift}) & 31)::int + 1, 1)"
        for shift in range(45, -1, -5)
    )
    return f"({time_part} || upper(substr(md5({salt}), 1, 16)))"


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
            self._fill(options["sagas"], options["days"], options["reset"], options["jobs"])
        elif action == "pages":
            self._pages(options["runs"], options["only"] or "")
        elif action == "month":
            with self._autovacuum(options["autovacuum"] == "on"):
                self._month(options["days"], options["rounds"], options["wait"], options["jobs"])
        self.stdout.write(self._sizes())

    # -- fill -----------------------------------------------------------------
    def _database(self, reset: bool) -> None:
        name = settings.DATABASES["default"]["NAME"]
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise CommandError(f"database {name!r}: use lowercase letters, digits, _")
        with connection._nodb_cursor() as cursor:
            if reset:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        call_command("migrate", verbosity=0, interactive=False)

    def _fill(self, sagas: int, days: float, reset: bool, jobs: int) -> None:
        if sagas < 0 or days <= 0 or jobs < 1:
            raise CommandError("--sagas must be at least 0, --days above 0, --jobs at least 1")
        self._database(reset)
        started = time.monotonic()
        # Finished more than an hour ago, spread evenly back to --days ago.
        self._insert(sagas, span_ms=int(days * 86400 * 1000) - 3_600_000, ago_s=3600, jobs=jobs)
        self._vacuum()
        self.stdout.write(f"filled {sagas:,} sagas in {time.monotonic() - started:,.0f} s")

    def _insert(self, sagas: int, span_ms: int, ago_s: float, jobs: int = 1) -> None:
        """``sagas`` sagas in chunks of ``CHUNK``, on ``jobs`` connections at once, created
        from ``span_ms`` before ``ago_s`` seconds ago up to then."""
        seed = secrets.token_hex(4)
        chunks = [(lo, min(CHUNK, sagas - lo)) for lo in range(0, sagas, CHUNK)]
        done = [0]
        lock = threading.Lock()
        started = time.monotonic()
        sql = self._chunk_sql()

        def work(mine: list[tuple[int, int]]) -> None:
            try:
                for lo, count in mine:
                    with connections["default"].cursor() as cursor:
                        cursor.execute(
                            sql, self._chunk_params(lo, count, sagas, span_ms, ago_s, seed)
                        )
                    with lock:
                        done[0] += count
                        rate = done[0] / (time.monotonic() - started)
                        self.stdout.write(
                            f"\r{done[0]:,} of {sagas:,} sagas ({rate:,.0f}/s)", ending=""
                        )
                        self.stdout.flush()
            finally:
                connections["default"].close()

        threads = [threading.Thread(target=work, args=(chunks[job::jobs],)) for job in range(jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if sagas:
            self.stdout.write("")
        if done[0] != sagas:
            raise CommandError(f"only {done[0]:,} of {sagas:,} sagas were written (see above)")

    def _vacuum(self) -> None:
        self.stdout.write("VACUUM ANALYZE ...")
        with connection.cursor() as cursor:
            for table in ("django_saga_saga", "django_saga_sagastep"):
                cursor.execute(f"VACUUM (ANALYZE) {table}")

    def _chunk_params(
        self, done: int, count: int, total: int, span_ms: int, ago_s: float, seed: str
    ) -> dict[str, Any]:
        return {
            "lo": done,
            "hi": done + count - 1,
            "total": max(total, 1),
            "span_ms": span_ms,
            "ago_s": ago_s,
            "seed": seed,
            "names": list(NAMES),
        }

    def _chunk_sql(self) -> str:
        # Which name and state a row gets comes from hashes of its number, so
        # filters select realistic fractions (e.g. 0.7% failed, 8% refunds).
        weight_total = sum(NAMES.values())
        name_cases = []
        edge = 0
        for index, weight in enumerate(NAMES.values()):
            edge += weight
            name_cases.append(
                (f"mod(n * 7919, {weight_total}) < {edge}", f"(%(names)s::text[])[{index + 1}]")
            )
        state_cases = []
        edge = 0
        for state, per in STATES:
            edge += per
            state_cases.append((f"mod(n * 104729, 10000) < {edge}", f"'{state}'"))
        name_sql = "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, v in name_cases) + " END"
        state_sql = "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, v in state_cases) + " END"
        step_status = (
            "CASE "
            + " ".join(
                f"WHEN s.state = '{state}' AND k = {k} THEN '{status}'"
                for state, statuses in STEP_STATUS.items()
                for k, status in enumerate(statuses)
            )
            + " END"
        )
        saga_id = _ulid("ts", "%(seed)s || n::text")
        step_id = _ulid("s.created_at + k * interval '40 ms'", "%(seed)s || s.id || k::text")
        return f"""
WITH rows AS (
    SELECT n, now() - make_interval(
        secs => %(ago_s)s + (%(span_ms)s::bigint * (%(total)s - n) / %(total)s) / 1000.0) AS ts
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS n
), sagas AS (
    INSERT INTO django_saga_saga
        (id, name, state, context, error, created_at, updated_at, completed_at,
         deadline_at, definition, version)
    SELECT {saga_id}, name, state,
        jsonb_build_object(
            'order_id', n, 'customer', 'c-' || mod(n, 50000), 'total', mod(n, 997) / 4.0,
            'currency', 'EUR', 'lines', jsonb_build_array(jsonb_build_object(
                'sku', 'SKU-' || mod(n, 5000), 'qty', 1 + mod(n, 3)))),
        CASE WHEN state = 'completed' THEN ''
             ELSE 'step ''charge'' failed: PaymentDeclined: card declined by issuer' END,
        ts, ts + interval '180 ms',
        CASE WHEN state IN ('completed', 'compensated') THEN ts + interval '180 ms' END,
        NULL, 'shop.sagas.' || replace(initcap(name), '.', ''), '3'
    FROM (SELECT n, ts, {name_sql} AS name, {state_sql} AS state FROM rows) AS r
    RETURNING id, state, created_at
)
INSERT INTO django_saga_sagastep
    (id, saga_id, position, stage, name, action, compensation, input, output, status, error,
     attempts, compensation_attempts, created_at, updated_at, started_at, executed_at,
     compensated_at, duration_ms, timeout, timeout_at, history)
SELECT {step_id}, s.id, k, k, (ARRAY['reserve', 'charge', 'ship'])[k + 1],
    (ARRAY['inventory.reserve', 'payment.charge', 'shipping.book'])[k + 1],
    (ARRAY['inventory.release', 'payment.refund', 'shipping.cancel'])[k + 1],
    jsonb_build_object('sku', 'SKU-' || k, 'qty', 1, 'warehouse', 'north'),
    CASE WHEN status IN ('completed', 'compensated', 'compensating', 'compensation_failed')
         THEN jsonb_build_object('ref', 'ext-' || substr(s.id, 11, 8), 'ok', true)
         ELSE '{{}}'::jsonb END,
    status,
    CASE WHEN status = 'failed' THEN 'PaymentDeclined: card declined by issuer' ELSE '' END,
    CASE WHEN status = 'pending' THEN 0 ELSE 1 END,
    CASE WHEN status IN ('compensated', 'compensation_failed') THEN 1 ELSE 0 END,
    s.created_at, s.created_at + interval '150 ms', s.created_at + k * interval '40 ms',
    CASE WHEN status NOT IN ('pending', 'started')
         THEN s.created_at + k * interval '40 ms' + interval '12 ms' END,
    CASE WHEN status = 'compensated' THEN s.created_at + interval '170 ms' END,
    CASE WHEN status = 'pending' THEN NULL ELSE 12 END, NULL, NULL,
    CASE WHEN status = 'pending' THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
        'kind', 'execute', 'attempt', 1,
        'outcome', CASE WHEN status = 'failed' THEN 'failed' ELSE 'completed' END,
        'at', to_char(s.created_at + k * interval '40 ms', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        'duration_ms', 12)) END
FROM sagas AS s CROSS JOIN generate_series(0, 2) AS k
CROSS JOIN LATERAL (SELECT {step_status} AS status) AS st
"""

    # -- pages ----------------------------------------------------------------
    def _pages(self, runs: int, only: str) -> None:
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.urls import reverse

        from django_saga.models import Saga

        user_model = get_user_model()
        user = user_model.objects.filter(
            username="bench"
        ).first() or user_model.objects.create_superuser("bench", password="bench")
        client = Client()
        client.force_login(user)
        # With no saga at all (the baseline), the pages of one saga are left out.
        newest = Saga.objects.order_by("-pk").values_list("pk", flat=True).first() or ""
        # The saga 100,000 rows down: what ?page=2000 showed with 50 a page.
        deep = Saga.objects.order_by("-pk").values_list("pk", flat=True)[100_000:100_001].first()
        deep = deep or newest
        failed = Saga.objects.filter(state="failed").values_list("pk", flat=True).first() or newest
        admin_list = reverse("admin:django_saga_saga_changelist")
        console = reverse("django_saga:dashboard")
        api = reverse("django_saga:api-list")
        pages = [
            ("console dashboard", console),
            ("dashboard, 100,000 sagas down", f"{console}?before={deep}"),
            ("dashboard ?q=refund", f"{console}?q=refund"),
            ("dashboard ?q=<an id>", f"{console}?q={deep}"),
            ("dashboard ?state=failed", f"{console}?state=failed"),
            (
                "dashboard ?state=compensated&name=order.refund",
                f"{console}?state=compensated&name=order.refund",
            ),
            ("dashboard ?name=account.close", f"{console}?name=account.close"),
            ("dashboard ?state=compensated&q=refund", f"{console}?state=compensated&q=refund"),
            ("dashboard ?q=nothing-matches", f"{console}?q=nothing-matches"),
            ("JSON list", api),
            ("JSON list, 100,000 down", f"{api}?before={deep}"),
            ("JSON list ?state=compensation_failed", f"{api}?state=compensation_failed"),
            ("JSON list ?q=refund", f"{api}?q=refund"),
            (
                "JSON list ?state=failed&name=account.close",
                f"{api}?state=failed&name=account.close",
            ),
            ("admin change list", admin_list),
            ("admin, last page offered", f"{admin_list}?p=199"),
            ("admin ?state__exact=completed", f"{admin_list}?state__exact=completed"),
            ("admin ?state__exact=failed", f"{admin_list}?state__exact=failed"),
            ("admin ?name=order.refund", f"{admin_list}?name=order.refund"),
            ("admin search: an exact id", f"{admin_list}?q={deep}"),
            ("admin search: refund", f"{admin_list}?q=refund"),
            ("admin created today", f"{admin_list}?{urlencode({'created_at__gte': _today()})}"),
            *(
                [
                    ("saga page", reverse("django_saga:detail", args=[failed])),
                    ("JSON detail", reverse("django_saga:api-detail", args=[failed])),
                    ("admin change page", reverse("admin:django_saga_saga_change", args=[failed])),
                ]
                if failed
                else []
            ),
            ("metrics view", reverse("django_saga:metrics")),
        ]
        self.stdout.write(machine_line())
        self.stdout.write(f"{'page':<48} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
        for label, url in pages:
            if only not in label:
                continue
            status = client.get(url).status_code  # warm caches and the session
            timings = []
            queries = 0
            for _ in range(runs):
                with CaptureQueriesContext(connections["default"]) as captured:
                    begin = time.perf_counter()
                    response = client.get(url)
                    timings.append((time.perf_counter() - begin) * 1000)
                queries = len(captured)
                status = response.status_code
            timings.sort()
            p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
            note = "" if status == 200 else f"  (HTTP {status})"
            self.stdout.write(
                f"{label:<48} {statistics.median(timings):8.1f} {p95:8.1f} {queries:8d}{note}"
            )

    # -- month ----------------------------------------------------------------
    def _month(self, days: float, rounds: int, wait: float, jobs: int) -> None:
        """``days`` of steady state in ``rounds``: each adds a round's worth of new sagas,
        purges what has become older than the retention, and lets autovacuum run."""
        from datetime import timedelta

        from django_saga.models import Saga
        from django_saga.retention import purge

        if rounds < 1 or days <= 0:
            raise CommandError("--rounds must be at least 1 and --days above 0")
        per_round = Saga.objects.count() // rounds
        self.stdout.write(machine_line())
        self.stdout.write(
            f"{days:g} days in {rounds} rounds: each adds {per_round:,} sagas, purges the "
            f"oldest {days / rounds:g} days, waits (at most {wait:g} s) for autovacuum"
        )
        header = f"{'round':>5} {'purged':>10} {'saga MB':>9} {'step MB':>9} {'total MB':>9}"
        self.stdout.write(header)
        before = self._megabytes()
        self.stdout.write(f"{'start':>5} {'':>10} " + self._size_columns(before))
        for n in range(1, rounds + 1):
            # Created in the last minute: later than everything before, as an
            # engine's ids are (ids sort by time, so indexes grow at one end).
            self._insert(per_round, span_ms=60_000, ago_s=0, jobs=jobs)
            keep = max(timedelta(days=days * (rounds - n) / rounds), timedelta(hours=3))
            report = purge(keep)
            self._wait_for_autovacuum(wait)
            self.stdout.write(
                f"{n:>5} {report.sagas:>10,} " + self._size_columns(self._megabytes())
            )
        after = self._megabytes()
        self.stdout.write(
            f"size after / before: saga x{after[0] / before[0]:.2f}, steps "
            f"x{after[1] / before[1]:.2f}, total x{sum(after) / sum(before):.2f}"
        )

    @contextmanager
    def _autovacuum(self, turn_on: bool) -> Iterator[None]:
        """Autovacuum on for the block if asked (the server's setting is restored after)."""
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            (was,) = cursor.fetchone()
        self.stdout.write(f"autovacuum on the server: {was}" + ("; on for this run" * turn_on))
        if not turn_on or was == "on":
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute("ALTER SYSTEM SET autovacuum = on")
            cursor.execute("SELECT pg_reload_conf()")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ALTER SYSTEM RESET autovacuum")
                cursor.execute("SELECT pg_reload_conf()")
            self.stdout.write("autovacuum: the server's setting is back")

    def _megabytes(self) -> tuple[float, float]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_total_relation_size('django_saga_saga'), "
                "pg_total_relation_size('django_saga_sagastep')"
            )
            saga, step = cursor.fetchone()
        return saga / 2**20, step / 2**20

    def _size_columns(self, sizes: tuple[float, float]) -> str:
        return f"{sizes[0]:>9,.0f} {sizes[1]:>9,.0f} {sum(sizes):>9,.0f}"

    def _wait_for_autovacuum(self, most: float) -> None:
        """Until autovacuum has cleaned both tables after the purge, or ``most`` seconds."""
        deadline = time.monotonic() + most
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN "
                    "('django_saga_saga', 'django_saga_sagastep') "
                    "AND n_dead_tup > 1000 + 0.02 * n_live_tup"
                )
                (waiting,) = cursor.fetchone()
            if not waiting:
                return
            time.sleep(5)

    # -- sizes ----------------------------------------------------------------
    def _sizes(self) -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, reltuples::bigint, pg_table_size(oid), pg_indexes_size(oid) "
                "FROM pg_class WHERE relname IN "
                "('django_saga_saga', 'django_saga_sagastep', 'django_saga_outboxmessage') "
                "ORDER BY relname"
            )
            rows = cursor.fetchall()
        lines = [f"{'table':<28} {'rows (est.)':>14} {'table MB':>10} {'indexes MB':>11}"]
        for name, tuples, table, indexes in rows:
            mb = table / 2**20, indexes / 2**20
            lines.append(f"{name:<28} {max(tuples, 0):>14,} {mb[0]:>10,.0f} {mb[1]:>11,.0f}")
        return "\n".join(lines)


def _today() -> str:
    """Midnight today, as the admin's date filter writes it in its links."""
    from django.utils import timezone

    return str(timezone.now().replace(hour=0, minute=0, second=0, microsecond=0))
