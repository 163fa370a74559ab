"""What ``SagaTestKit.assert_saga()`` compares, and how it says what differs:
the saga's state, and which steps ran, were compensated and were skipped."""

from __future__ import annotations

from collections.abc import Sequence
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
) -> list[str]:
    """One line per expectation (None: not checked) that ``saga`` and its
    timeline ``events`` do not meet; none if all are met."""
    actual = {
        "state": saga.state,
        "ran": _steps(events, ("execute", "outside"), "completed"),
        "compensated": _steps(events, ("compensate",), "compensated"),
        "skipped": _steps(events, ("execute",), "skipped"),
    }
    expected = {"state": state, "ran": ran, "compensated": compensated, "skipped": skipped}
    return [
        f"{what}: expected {value!r}, got {actual[what]!r}"
        for what, value in expected.items()
        if value is not None and _normal(value) != actual[what]
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


def _steps(events: list[Event], kinds: tuple[str, ...], outcome: str) -> list[str]:
    return [e.step for e in events if e.kind in kinds and e.outcome == outcome]


def _normal(value: str | Sequence[str]) -> Any:
    return value if isinstance(value, str) else list(value)
