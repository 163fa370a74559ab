"""Lists that cost the same at any table size: keyset pages and bounded counts.

A list page is read by walking an index from a cursor (the last saga id a
page showed), never by ``OFFSET``, so the millionth page costs what the first
does. Counts are exact up to ``COUNT_CAP`` rows, which an index answers in a
few milliseconds; above that, PostgreSQL's planner estimate is shown as one
(other databases show "10,000+").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet
from django.http import QueryDict

from ..models import SAGA_ID_MAX_CHARS

#: Rows a count reads at most before it gives an estimate instead.
COUNT_CAP = 10_000

M = TypeVar("M", bound=Model)


class BadCursor(ValueError):
    """A ``before``/``after`` parameter that no page of ours could have made."""


@dataclass(frozen=True)
class Tally:
    """A row count: exact, an estimate, or (``at_least``) a lower bound."""

    value: int
    exact: bool = True
    at_least: bool = False

    def __str__(self) -> str:
        if self.exact:
            return f"{self.value:,}"
        if self.at_least:
            return f"{self.value:,}+"
        return f"~{_rounded(self.value):,}"

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.value + other.value,
            exact=self.exact and other.exact,
            at_least=self.at_least or other.at_least,
        )

    def as_json(self) -> dict[str, Any]:
        return {"count": self.value, "count_exact": self.exact}


def _rounded(value: int) -> int:
    """Three significant digits: an estimate should not look precise."""
    digits = len(str(value))
    if digits <= 3:
        return value
    unit = 10 ** (digits - 3)
    return round(value / unit) * unit


def tally(queryset: QuerySet[Any]) -> Tally:
    """Count ``queryset`` exactly if it holds at most ``COUNT_CAP`` rows; estimate above."""
    rows = queryset.order_by().values("pk")
    counted = rows[: COUNT_CAP + 1].count()
    if counted <= COUNT_CAP:
        return Tally(counted)
    guess = estimate(rows)
    if guess is None:
        return Tally(COUNT_CAP, exact=False, at_least=True)
    return Tally(max(guess, counted), exact=False)


def estimate(queryset: QuerySet[Any]) -> int | None:
    """The planner's row estimate for ``queryset`` on PostgreSQL (None elsewhere)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


@dataclass(frozen=True)
class Window:
    """One page of a newest-first list, with the cursors of its neighbours."""

    rows: list[Any]
    #: Pass as ``after`` for the page of newer rows (None on the newest page).
    newer: str | None
    #: Pass as ``before`` for the page of older rows (None on the oldest page).
    older: str | None


def cursor_from(params: Mapping[str, str]) -> tuple[str, str]:
    """The ``before`` and ``after`` parameters, checked; at most one may be set."""
    before = params.get("before", "")
    after = params.get("after", "")
    for name, value in (("before", before), ("after", after)):
        if len(value) > SAGA_ID_MAX_CHARS or "\x00" in value:
            raise BadCursor(f"{name!r} must be a saga id from a page link")
    if before and after:
        raise BadCursor("give 'before' or 'after', not both")
    return before, after


def without_cursor(params: QueryDict) -> QueryDict:
    """A copy of ``params`` without ``before`` and ``after``: the base of a page link."""
    copy = params.copy()
    for name in ("before", "after"):
        copy.pop(name, None)
    return copy


def window(queryset: QuerySet[M], params: Mapping[str, str], size: int) -> Window:
    """The page of ``queryset``, newest first by primary key, that ``params`` asks for.

    Saga ids are ULIDs, so primary-key order is creation order and the
    primary key (or an index ending in it) serves every page.
    """
    before, after = cursor_from(params)
    if after:
        newer_first = list(queryset.filter(pk__gt=after).order_by("pk")[: size + 1])
        if newer_first:
            more = len(newer_first) > size
            rows = newer_first[:size][::-1]
            return Window(
                rows,
                newer=rows[0].pk if more else None,
                older=rows[-1].pk if _any(queryset.filter(pk__lt=rows[-1].pk), "-pk") else None,
            )
        before = ""  # nothing newer than the cursor any more: show the newest page
    older_first = queryset.filter(pk__lt=before) if before else queryset
    page = list(older_first.order_by("-pk")[: size + 1])
    rows = page[:size]
    newer = None
    if before and rows and _any(queryset.filter(pk__gt=rows[0].pk), "pk"):
        newer = rows[0].pk
    return Window(rows, newer=newer, older=rows[-1].pk if len(page) > size else None)


def _any(queryset: QuerySet[Any], order: str) -> bool:
    """Whether ``queryset`` holds a row, read from the cursor along the index.

    An unordered ``EXISTS`` leaves the planner free to read the table from
    its start until a row matches; ids are in creation order, so for a
    cursor deep in the list that is half the table. Asked for the first
    row in ``order``, it walks the index from the cursor instead.
    """
    return bool(queryset.order_by(order).values_list("pk", flat=True)[:1])
