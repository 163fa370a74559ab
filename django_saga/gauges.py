"""Flow control's gauges for Prometheus, read at scrape time: messages held
and why, pauses in force, each limited action's limits, its slots in use and
its current rate (``metrics`` serves them with the rest)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db import connections
from django.db.models import Count, Sum

from . import clock
from .limits import Gate
from .models import RATE_WINDOW, ActionRuns, HeldMessage, Pause
from .registry import registry
from .stores.slots import SLOTS_IN_USE

#: The flow-control gauges, and their labels.
FLOW: tuple[tuple[str, list[str]], ...] = (
    ("django_saga_held_messages", ["kind", "action", "reason"]),
    ("django_saga_pauses", []),
    ("django_saga_action_limit", ["kind", "action"]),
    ("django_saga_action_slots_in_use", ["kind", "action"]),
    ("django_saga_action_rate_limit", ["kind", "action"]),
    ("django_saga_action_runs_per_second", ["kind", "action"]),
)


def flow() -> Iterator[Any]:
    """Held messages by action and why, pauses in force, and each limited
    action's limit and the slots of it in use (read at scrape time)."""
    from prometheus_client.core import GaugeMetricFamily  # the metrics extra

    held = GaugeMetricFamily(
        "django_saga_held_messages",
        "Messages waiting for a slot of a limited action, or held by a pause.",
        labels=["kind", "action", "reason"],
    )
    rows = HeldMessage.objects.order_by().values("kind", "action", "paused")
    for row in rows.annotate(n=Count("pk")):
        reason = "pause" if row["paused"] else "slot"
        held.add_metric([row["kind"], row["action"], reason], row["n"])
    yield held
    yield GaugeMetricFamily(
        "django_saga_pauses",
        "Pauses of actions and saga names in force.",
        value=Pause.objects.filter(resumed_at__isnull=True).count(),
    )
    limits = GaugeMetricFamily(
        "django_saga_action_limit",
        "The concurrency limit an action's handler declares.",
        labels=["kind", "action"],
    )
    in_use = GaugeMetricFamily(
        "django_saga_action_slots_in_use",
        "Runs of a limited action under way now, in every engine (PostgreSQL).",
        labels=["kind", "action"],
    )
    for kind, action, limit in registry.limited():
        if limit.concurrency is None:
            continue
        limits.add_metric([kind, action], limit.concurrency)
        running = slots_in_use(kind, action, limit.concurrency, limit.per)
        if running is not None:
            in_use.add_metric([kind, action], running)
    yield limits
    yield in_use
    rate_limits = GaugeMetricFamily(
        "django_saga_action_rate_limit",
        "The runs a second an action's handler declares as its rate.",
        labels=["kind", "action"],
    )
    per_second = GaugeMetricFamily(
        "django_saga_action_runs_per_second",
        f"Runs a second a limited action started in every engine, over {RATE_WINDOW} s.",
        labels=["kind", "action"],
    )
    measured = current_rates()
    for kind, action, limit in registry.limited():
        if limit.rate is not None:
            rate_limits.add_metric([kind, action], limit.rate.count / limit.rate.seconds)
        per_second.add_metric([kind, action], measured.get((kind, action), 0.0))
    yield rate_limits
    yield per_second


def current_rates() -> dict[tuple[str, str], float]:
    """Runs a second each limited action started over the last
    ``RATE_WINDOW`` seconds, by (kind, action), as the engines reported
    them (each every ``SWEEP_INTERVAL``)."""
    since = clock.now() - timedelta(seconds=RATE_WINDOW)
    rows = (
        ActionRuns.objects.filter(reported_at__gt=since)
        .order_by()
        .values("kind", "action")
        .annotate(runs=Sum("runs"))
    )
    return {(row["kind"], row["action"]): row["runs"] / RATE_WINDOW for row in rows}


def slots_in_use(kind: str, action: str, concurrency: int, per: str | None) -> int | None:
    """How many slots of a limit kept for all sagas some transaction holds
    now (None: a limit per key, or a database without advisory locks)."""
    connection = connections["default"]
    if per is not None or connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(SLOTS_IN_USE, [Gate(kind, action, "", concurrency).slot_ids()])
        return int(cursor.fetchone()[0])
