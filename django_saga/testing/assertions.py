"""What ``SagaTestKit.assert_saga()`` compares, and how it says what differs:
the saga's state, which steps ran, were compensated and were skipped, how
many of a map's items ended in each status, and how each child saga ended."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ..models import Saga
from .timeline import Event


def differences(
    saga: Saga,
    events: list[Event],
    *,
    state: str | None,
    ran: Sequence[str] | None,
    compensated: Sequence[str] | None,
    skipped: Sequence[str] | None,
    items: Mapping[str, Mapping[str, int]] | None = None,
    children: Mapping[str, str] | None = None,
    child_sagas: Sequence[Saga] = (),
) -> list[str]:
    """One line per expectation (None: not checked) that ``saga`` and its
    timeline ``events`` do not meet; none if all are met. ``child_sagas``
    are the saga's children, for ``children``."""
    names = {step.pk: step.name for step in saga.steps}
    actual = {
        "state": saga.state,
        # A child step runs, and is undone, when its child saga does.
        "ran": _steps(events, ("execute", "outside", "child"), "completed"),
        "compensated": _steps(events, ("compensate", "child"), "compensated"),
        "skipped": _steps(events, ("execute",), "skipped"),
        "items": {name: _item_counts(saga, name) for name in items or {}},
        "children": {names.get(c.parent_step_id or "", "?"): c.state for c in child_sagas},
    }
    expected: dict[str, Any] = {
        "state": state,
        "ran": _listed(ran),
        "compensated": _listed(compensated),
        "skipped": _listed(skipped),
        "items": None if items is None else {k: dict(v) for k, v in items.items()},
        "children": None if children is None else dict(children),
    }
    return [
        f"{what}: expected {value!r}, got {actual[what]!r}"
        for what, value in expected.items()
        if value is not None and value != actual[what]
    ]


def failure(saga: Saga, wrong: list[str], events: list[Event], logged: list[str]) -> str:
    """The failed assertion's message: what differs, the saga's error and
    timeline, and the warnings logged about it (the kit keeps the logs out of
    the test's output)."""
    lines = [f"  {e.kind} {e.step}: {e.outcome}" for e in events] or ["  (nothing)"]
    warnings = [f"  {m}" for m in logged]
    return (
        f"Saga {saga.pk} ({saga.name}) is not as expected:\n  "
        + "\n  ".join(wrong)
        + (f"\nIts error: {saga.error}" if saga.error else "")
        + "\nIts timeline:\n"
        + "\n".join(lines)
        + ("\nIts warnings in the log:\n" + "\n".join(warnings) if warnings else "")
    )


def _item_counts(saga: Saga, map_name: str) -> dict[str, int]:
    """How many of the map ``map_name``'s items are in each status."""
    found = [s.position for s in saga.steps if s.is_map and s.name == map_name]
    return dict(Counter(s.status for s in saga.steps if s.is_item and [s.map_position] == found))


def _steps(events: list[Event], kinds: tuple[str, ...], outcome: str) -> list[str]:
    return [e.step for e in events if e.kind in kinds and e.outcome == outcome]


def _listed(value: Sequence[str] | None) -> list[str] | None:
    return None if value is None else list(value)
