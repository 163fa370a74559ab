"""A step's history, and what it tells: whether the step waited, whether a
saga's compensation must undo it, whether the saga is past its pivot.

The history is a list of entries ``{"kind", "attempt", "outcome", "at", ...}``,
each appended by ``record``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .. import clock, validation
from ..messages import EXECUTE
from ..models import DONE, SagaStep, StepStatus
from ..outcomes import RETRY

# A list of entries {"kind", "attempt", "outcome", "at", ...}, each appended by
# ``record``: the attempts of the step's handler and of its compensation (kinds
# EXECUTE and COMPENSATE, as their messages name them), results reported from
# outside, and operators' interventions.

#: The history kind of a result reported from outside (webhook, complete_step).
OUTSIDE = "outside"
#: The history kind of an operator's own entry.
OPERATOR = "operator"

#: The outcomes of an attempt.
COMPLETED = "completed"
#: The handler returned ``Skip``.
SKIPPED = "skipped"
#: The handler returned ``Pending``.
WAITED = "waiting"
#: A sleep step started sleeping (the entry says ``until`` when).
SLEEPING = "sleeping"
#: An operator woke a sleep step before its time.
WOKEN = "woken"
RETRYING = "retrying"
FAILED = "failed"
COMPENSATED = "compensated"
#: The saga went back before the attempt ended (it was dispatched, or waited).
CANCELLED = "cancelled"
#: What a step's message did when it came early: a copy of one already acted
#: on (a sleep's first, a task's), or a sleep's before its time. Never recorded.
EARLY = "early"
#: The outcome an operator's retry records: the step's retry budget starts again there.
RESUMED = "resumed"
#: The outcome of skipping a step by hand.
SKIPPED_BY_HAND = "skipped"


def record(
    step: SagaStep,
    kind: str,
    attempt: int,
    outcome: str,
    duration_ms: int | None = None,
    error: str = "",
    retry_in: float | None = None,
    reason: str = "",
    note: Mapping[str, object] | None = None,
) -> None:
    """Append one entry to the step's history (saved with the step's next update).

    ``duration_ms`` is an attempt's (an operator's entry has none); ``note``
    holds an operator's own fields (who asked, why). ``error`` and ``reason``
    are made storable (no NUL, bounded length): they come from handlers, and
    a text the database refuses must not lose the attempt.
    """
    entry: dict[str, object] = {
        "kind": kind,
        "attempt": attempt,
        "outcome": outcome,
        "at": clock.now().isoformat(),
    }
    if duration_ms is not None:
        entry["duration_ms"] = duration_ms
    if error:
        entry["error"] = validation.clean_error(error)
    if reason:
        entry["reason"] = validation.clean_error(reason)
    if retry_in is not None:
        entry["retry_in"] = round(retry_in, 3)
    if note:
        entry.update(note)
    step.history = [*step.history, entry]


def waited(step: SagaStep) -> bool:
    """Whether an attempt of ``step`` returned ``Pending``: its handler committed
    and started outside work, whatever became of the wait."""
    return any(
        e.get("kind") == EXECUTE and e.get("outcome") == WAITED
        for e in step.history
        if isinstance(e, dict)
    )


def on_timeout(step: SagaStep) -> tuple[str, dict]:
    """What the clock does when the step's current wait runs out: the
    ``Pending(on_timeout=...)`` its attempt returned, and the output it
    completes the step with (``"retry"`` if it said nothing)."""
    for entry in reversed(step.history):
        if (
            isinstance(entry, dict)
            and entry.get("kind") == EXECUTE
            and entry.get("outcome") == WAITED
            and entry.get("attempt") == step.attempts
        ):
            return str(entry.get("on_timeout", RETRY)), dict(entry.get("timeout_output") or {})
    return RETRY, {}


def wait_undone(step: SagaStep) -> bool:
    """Whether ``step`` waited and its wait ended without completing it, so it
    is undone for what its handler started (see ``to_undo``)."""
    completed = any(
        (e.get("kind") in (EXECUTE, OUTSIDE) and e.get("outcome") == COMPLETED)
        or (e.get("kind") == OPERATOR and e.get("outcome") == SKIPPED_BY_HAND)
        for e in step.history
        if isinstance(e, dict)
    )
    return waited(step) and not completed


def to_undo(step: SagaStep) -> bool:
    """Whether the saga's compensation must run ``step``'s compensation.

    A completed step, and a step whose wait ended without completing it (it
    timed out, the outside service reported a failure, an operator
    compensated the saga meanwhile): its handler ran and committed, so what
    it started may have happened. Its compensation gets the output it saved
    and must cope with nothing to undo. A step that failed without waiting
    left nothing: its writes rolled back with its attempt.
    """
    if step.status == StepStatus.COMPLETED:
        return True
    return (
        step.status in (StepStatus.FAILED, StepStatus.CANCELLED)
        and bool(step.compensation)
        and waited(step)
    )


def pivot_passed(steps: Sequence[SagaStep]) -> SagaStep | None:
    """The saga's pivot step if it is done: past it, nothing may be undone."""
    return next((s for s in steps if s.pivot and s.status in DONE), None)
