"""A month of steady state: new sagas, a purge of the oldest and autovacuum, round by round.

It shows whether the tables' size stays flat once retention purges as much as
is added, which a one-off fill cannot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError, OutputWrapper
from django.db import connection

from .history_fill import insert_sagas
from .history_sizes import megabytes, size_columns
from .report import machine_line


def month(out: OutputWrapper, days: float, rounds: int, wait: float, jobs: int) -> None:
    """``days`` of steady state in ``rounds``: each adds a round's worth of new sagas,
    purges what has become older than the retention, and lets autovacuum run."""
    from datetime import timedelta

    from django_saga.models import Saga
    from django_saga.retention import purge

    if rounds < 1 or days <= 0:
        raise CommandError("--rounds must be at least 1 and --days above 0")
    per_round = Saga.objects.count() // rounds
    out.write(machine_line())
    out.write(
        f"{days:g} days in {rounds} rounds: each adds {per_round:,} sagas, purges the "
        f"oldest {days / rounds:g} days, waits (at most {wait:g} s) for autovacuum"
    )
    header = f"{'round':>5} {'purged':>10} {'saga MB':>9} {'step MB':>9} {'total MB':>9}"
    out.write(header)
    before = megabytes()
    out.write(f"{'start':>5} {'':>10} " + size_columns(before))
    for n in range(1, rounds + 1):
        # Created in the last minute: later than everything before, as an
        # engine's ids are (ids sort by time, so indexes grow at one end).
        insert_sagas(out, per_round, span_ms=60_000, ago_s=0, jobs=jobs)
        keep = max(timedelta(days=days * (rounds - n) / rounds), timedelta(hours=3))
        report = purge(keep)
        _wait_for_autovacuum(wait)
        out.write(f"{n:>5} {report.sagas:>10,} " + size_columns(megabytes()))
    after = megabytes()
    out.write(
        f"size after / before: saga x{after[0] / before[0]:.2f}, steps "
        f"x{after[1] / before[1]:.2f}, total x{sum(after) / sum(before):.2f}"
    )


@contextmanager
def autovacuum(out: OutputWrapper, turn_on: bool) -> Iterator[None]:
    """Autovacuum on for the block if asked (the server's setting is restored after)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        (was,) = cursor.fetchone()
    out.write(f"autovacuum on the server: {was}" + ("; on for this run" * turn_on))
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
        out.write("autovacuum: the server's setting is back")


def _wait_for_autovacuum(most: float) -> None:
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
