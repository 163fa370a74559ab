"""Why a saga, or one of its steps, waits: in words for the console.

A paused saga says who paused it and why (its trail); a step whose message
is held says what holds it: its saga's pause, a pause of its action or its
saga's name (who, why), or a full concurrency limit of its action.
"""

from __future__ import annotations

from ..actions import PAUSE
from ..messages import COMPENSATE
from ..models import HeldMessage, Intervention, Pause, Saga
from ..registry import registry


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
