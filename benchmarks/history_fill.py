"""Writing history: the database made and migrated, sagas inserted in chunks, then VACUUM.

Chunks of ``history_sql`` statements run on several connections at once, so
that millions of sagas take minutes rather than the hours ``start()`` would.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper
from django.db import connection, connections

from .history_sql import CHUNK, chunk_params, chunk_sql


def fill(out: OutputWrapper, sagas: int, days: float, reset: bool, jobs: int) -> None:
    """``sagas`` finished sagas, created over the last ``days`` days but the last hour."""
    if sagas < 0 or days <= 0 or jobs < 1:
        raise CommandError("--sagas must be at least 0, --days above 0, --jobs at least 1")
    create_database(reset)
    started = time.monotonic()
    # Finished more than an hour ago, spread evenly back to --days ago.
    insert_sagas(out, sagas, span_ms=int(days * 86400 * 1000) - 3_600_000, ago_s=3600, jobs=jobs)
    vacuum(out)
    out.write(f"filled {sagas:,} sagas in {time.monotonic() - started:,.0f} s")


def create_database(reset: bool) -> None:
    """The settings' database, created if missing (dropped first with ``reset``), migrated."""
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


def insert_sagas(out: OutputWrapper, sagas: int, span_ms: int, ago_s: float, jobs: int = 1) -> None:
    """``sagas`` sagas in chunks of ``CHUNK``, on ``jobs`` connections at once, created
    from ``span_ms`` before ``ago_s`` seconds ago up to then."""
    seed = secrets.token_hex(4)
    chunks = [(lo, min(CHUNK, sagas - lo)) for lo in range(0, sagas, CHUNK)]
    done = [0]
    lock = threading.Lock()
    started = time.monotonic()
    sql = chunk_sql()

    def work(mine: list[tuple[int, int]]) -> None:
        try:
            for lo, count in mine:
                with connections["default"].cursor() as cursor:
                    cursor.execute(sql, chunk_params(lo, count, sagas, span_ms, ago_s, seed))
                with lock:
                    done[0] += count
                    rate = done[0] / (time.monotonic() - started)
                    out.write(f"\r{done[0]:,} of {sagas:,} sagas ({rate:,.0f}/s)", ending="")
                    out.flush()
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=work, args=(chunks[job::jobs],)) for job in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if sagas:
        out.write("")
    if done[0] != sagas:
        raise CommandError(f"only {done[0]:,} of {sagas:,} sagas were written (see above)")


def vacuum(out: OutputWrapper) -> None:
    """VACUUM ANALYZE of both tables, so that the planner knows what was written."""
    out.write("VACUUM ANALYZE ...")
    with connection.cursor() as cursor:
        for table in ("django_saga_saga", "django_saga_sagastep"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
