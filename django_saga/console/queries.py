"""The querysets behind the console's and the admin's lists.

Every one of them is served by an index whatever the table size: filters
match whole states, names and ids (``(state, id)``, ``(name, id)``,
``(state, name, id)`` and the primary key), a search for part of a name
first finds the distinct names that contain it, and progress is counted for
the sagas of one page only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, router
from django.db.models import Count, Prefetch, Q, QuerySet

from .. import actions, diagram
from ..models import (
    ACTIVE_STATES,
    KEY_MAX_CHARS,
    SAGA_ID_MAX_CHARS,
    Intervention,
    Saga,
    SagaState,
    SagaStep,
)
from .formatting import RAN

#: Distinct saga names read, at most, to answer a search for part of a name.
NAMES_SCANNED = 1000
#: Sagas one re-drive request sends at most (console or JSON): a larger
#: selection takes several, so that no request runs for minutes.
REDRIVE_AT_ONCE = 1000


def attach_progress(sagas: Iterable[Saga]) -> list[Saga]:
    """Set ``steps_total`` and ``steps_done`` on each saga, in one query for all of them."""
    sagas = list(sagas)
    counts: dict[str, Any] = {
        row["saga_id"]: row
        for row in SagaStep.objects.filter(saga_id__in=[s.pk for s in sagas])
        .order_by()
        .values("saga_id")
        .annotate(total=Count("pk"), done=Count("pk", filter=Q(status__in=RAN)))
    }
    for saga in sagas:
        row = counts.get(saga.pk, {})
        saga.steps_total = row.get("total", 0)  # type: ignore[attr-defined]
        saga.steps_done = row.get("done", 0)  # type: ignore[attr-defined]
    return sagas


def saga_names(using: str | None = None, limit: int = 200) -> list[str]:
    """The distinct saga names in order, one index probe each (not a scan of every row)."""
    using = using or router.db_for_read(Saga)
    table = connections[using].ops.quote_name(Saga._meta.db_table)
    column = connections[using].ops.quote_name("name")
    # A recursive query that jumps from each name to the next one: with a
    # few hundred names this reads a few hundred index entries, not millions.
    sql = (
        f"WITH RECURSIVE names(n) AS ("
        f" SELECT MIN({column}) FROM {table}"
        f" UNION ALL"
        f" SELECT (SELECT MIN(t.{column}) FROM {table} t WHERE t.{column} > names.n)"
        f" FROM names WHERE names.n IS NOT NULL"
        f") SELECT n FROM names WHERE n IS NOT NULL LIMIT %s"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


def saga_with_steps(saga_id: str) -> Saga | None:
    """The saga with its steps in order, read where the console's pages read
    (``manager.get`` reads the store's database, the primary)."""
    steps = Prefetch("step_set", queryset=SagaStep.objects.order_by("position"))
    saga = Saga.objects.prefetch_related(steps).filter(pk=saga_id).first()
    if saga is not None:
        saga.set_steps(list(saga.step_set.all()))
    return saga


#: The list's filters that take any text (``state`` takes one of the states).
TEXT_FILTERS = ("name", "key", "parent", "q")


class BadFilter(ValueError):
    """A list filter no saga could match as given; the message names the parameter."""


def filter_sagas(queryset: QuerySet[Saga], params: Mapping[str, str]) -> QuerySet[Saga]:
    """Apply the list's filters: ``state``, ``name``, ``key``, ``parent`` (the
    children of the saga with that id) and ``q`` (an id, a key, or part of a
    name).

    Raises ``BadFilter`` for a text filter holding a NUL character: no saga's
    name, key or id holds one, and PostgreSQL refuses to compare one with a
    text column, so the query would fail rather than find nothing.
    """
    for param in TEXT_FILTERS:
        if "\x00" in params.get(param, ""):
            raise BadFilter(
                f"The filter {param!r} holds a NUL character (\\x00), "
                "which no saga's name, key or id can hold."
            )
    state = params.get("state", "")
    if state in SagaState.values:
        queryset = queryset.filter(state=state)
    name = params.get("name", "")
    if name:
        queryset = queryset.filter(name=name)
    key = params.get("key", "")
    if key:
        queryset = queryset.filter(key=key)
    parent = params.get("parent", "")
    if parent:
        queryset = queryset.filter(parent_id=parent)
    query = params.get("q", "").strip()
    if query:
        queryset = search(queryset, query)
    return queryset


def search(queryset: QuerySet[Saga], query: str) -> QuerySet[Saga]:
    """Sagas whose id is ``query``, else whose business key is ``query``, else
    whose name contains it (any case). Each is one index lookup."""
    if "\x00" in query:
        return queryset.none()
    if len(query) <= SAGA_ID_MAX_CHARS:
        by_id = queryset.filter(pk=query.upper())
        if by_id.exists():
            return by_id
    if len(query) <= KEY_MAX_CHARS:
        by_key = queryset.filter(key=query)
        if by_key.exists():
            return by_key
    needle = query.casefold()
    names = [n for n in saga_names(queryset.db, NAMES_SCANNED) if needle in n.casefold()]
    return queryset.filter(name__in=names)


def stage_sizes(saga: Saga, shown: list[SagaStep]) -> dict[int, int]:
    """How many steps each stage on the page has in all (a stage may span two pages)."""
    return diagram.stage_sizes(saga, sorted({step.stage for step in shown}))


@dataclass(frozen=True)
class RedriveReport:
    """Where a bulk re-drive stands: who asked, why, and its sagas by state now."""

    batch: str
    by: str
    reason: str
    started_at: datetime
    #: When its last saga is sent: the re-drive paces them through the outbox.
    sending_until: datetime
    #: How many of its sagas are in each state now.
    counts: dict[str, int]

    @property
    def sagas(self) -> int:
        return sum(self.counts.values())

    @property
    def moving(self) -> int:
        """Its sagas still going: retried and not yet completed, failed or halted again."""
        return sum(self.counts.get(state, 0) for state in ACTIVE_STATES)

    def under_way(self, now: datetime) -> bool:
        return self.moving > 0 or self.sending_until > now


def redrive_report(batch: str) -> RedriveReport | None:
    """The re-drive ``batch`` as it stands, or None if it recorded nothing.

    Reads its first and last interventions and counts its sagas by state,
    through the ``(batch, saga)`` index.
    """
    entries = Intervention.objects.filter(batch=batch)
    first = entries.order_by("id").first()
    last = entries.order_by("-id").first()
    if first is None or last is None:
        return None
    delay = last.details.get("delay", 0) if isinstance(last.details, dict) else 0
    return RedriveReport(
        batch=batch,
        by=first.actor,
        reason=first.reason,
        started_at=first.at,
        sending_until=last.at + timedelta(seconds=float(delay or 0)),
        counts=actions.progress(batch),
    )


def redriven_sagas(batch: str, states: Sequence[str]) -> QuerySet[Saga]:
    """The sagas of the re-drive ``batch`` now in one of ``states``, oldest first."""
    ids = Intervention.objects.filter(batch=batch).values("saga_id")
    return Saga.objects.filter(state__in=states, pk__in=ids).order_by("pk")
