"""How big the saga tables are: rows, table and index megabytes.

Printed after every action, and per round by ``month``, since the size of the
history is what keeping it costs.
"""

from __future__ import annotations

from django.db import connection


def table_sizes() -> str:
    """A table of the saga, step and outbox tables: estimated rows, table and index MB."""
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


def megabytes() -> tuple[float, float]:
    """(sagas, steps): each table's total size in MB, indexes and TOAST included."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('django_saga_saga'), "
            "pg_total_relation_size('django_saga_sagastep')"
        )
        saga, step = cursor.fetchone()
    return saga / 2**20, step / 2**20


def size_columns(sizes: tuple[float, float]) -> str:
    """The saga, step and total MB columns of one ``month`` line."""
    return f"{sizes[0]:>9,.0f} {sizes[1]:>9,.0f} {sum(sizes):>9,.0f}"
