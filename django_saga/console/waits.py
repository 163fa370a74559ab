"""Why a saga, or one of its steps, waits, and what waits for each limited
action: for the console's pages and its JSON.

A paused saga says who paused it and why (its trail); a step whose message
is held says what holds it: its saga's pause, a pause of its action or its
saga's name (who, why), or a full concurrency limit of its action.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from ..actions import PAUSE
from ..gauges import current_rates, slots_in_use
from ..messages import COMPENSATE
from ..models import HeldMessage, Intervention, Pause, Saga
from ..registry import LABELS, registry


def pause_note(saga: Saga) -> str:
    """Who paused the saga and why; "" unless it is paused."""
    if not saga.paused:
        return ""
    entry = Intervention.objects.filter(saga_id=saga.pk, action=PAUSE.name).order_by("-id").first()
    if entry is None:
        return "Paused: none of its handlers runs until an operator resumes it."
    why = f": {entry.reason}" if entry.reason else ""
    return f"Paused by {entry.actor}{why}. None of its handlers runs until it is resumed."


def step_waits(saga: Saga) -> dict[str, str]:
    """Step id -> what its held message waits for, for the saga's held messages."""
    held = list(HeldMessage.objects.filter(saga_id=saga.pk).order_by("id")[:200])
    pauses = Pause.objects.in_bulk({h.pause_id for h in held if h.pause_id is not None})
    waits: dict[str, str] = {}
    for row in held:
        what = "compensation" if row.kind == COMPENSATE else "run"
        if row.paused and row.pause_id is None:
            waits[row.step_id] = f"its {what} waits: the saga is paused"
        elif row.paused:
            pause = pauses.get(row.pause_id)
            by = f" by {pause.paused_by}: {pause.reason}" if pause else ""
            subject = f"{pause.get_scope_display()} {pause.pattern}" if pause else "a pause"
            waits[row.step_id] = f"its {what} waits: {subject} is paused{by}"
        else:
            limit = registry.limit(row.kind, row.action)
            bound = f" ({limit.describe()})" if limit else ""
            waits[row.step_id] = f"its {what} waits for a slot of {row.action}{bound}"
    return waits


def pauses_in_force(limit: int = 20) -> list[Pause]:
    """The pauses of actions and saga names in force, the newest first."""
    return list(Pause.objects.filter(resumed_at__isnull=True).order_by("-id")[:limit])


def limit_rows() -> list[dict[str, Any]]:
    """Each limited action: its limit, its runs under way now (None where
    that cannot be told), the runs a second it started over the last minute,
    and its messages waiting for a slot or a pause."""
    waiting = {
        (row["kind"], row["action"], row["paused"]): row["n"]
        for row in HeldMessage.objects.order_by()
        .values("kind", "action", "paused")
        .annotate(n=Count("pk"))
    }
    rates = current_rates()
    return [
        {
            "kind": kind,
            "handler": LABELS[kind],
            "action": action,
            "limit": limit,
            "in_flight": None
            if limit.concurrency is None
            else slots_in_use(kind, action, limit.concurrency, limit.per),
            "per_second": rates.get((kind, action), 0.0),
            "waiting": waiting.get((kind, action, False), 0),
            "paused": waiting.get((kind, action, True), 0),
        }
        for kind, action, limit in registry.limited()
    ]
