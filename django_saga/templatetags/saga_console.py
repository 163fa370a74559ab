"""The console's frame: which of its links the user may follow, and how many
tasks wait for them (the count beside "Tasks")."""

from __future__ import annotations

from typing import Any

from django import template
from django.db import DatabaseError

from ..actions.tasks import CLAIMED, MINE, box_counts
from ..console.access import can_view_console

register = template.Library()


@register.simple_tag
def console_nav(user: Any) -> dict[str, Any]:
    """``console``: whether ``user`` may use the console's pages; ``tasks``:
    the tasks offered to them or claimed by them (None when it cannot be
    told, say before the tables exist)."""
    if not getattr(user, "is_authenticated", False):
        return {"console": False, "tasks": None}
    try:
        counts = box_counts(user, remember=True)
        waiting = counts[MINE] + counts[CLAIMED]
    except DatabaseError:
        waiting = None
    return {"console": can_view_console(user), "tasks": waiting}
