"""Sending a step on its way, and a saga's first stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import clock, signals
from ..messages import EXECUTE
from ..models import SagaStep, StepStatus

if TYPE_CHECKING:
    from ..stores.base import Unit


def dispatch(unit: Unit, step: SagaStep, delay: float = 0.0, also: Sequence[str] = ()) -> None:
    """Send ``step`` its next execute message, ``delay`` seconds from now.

    ``also`` names more step fields the caller changed, saved in the same update.
    """
    now = clock.now()
    step.status = StepStatus.STARTED
    step.attempts += 1
    step.started_at = now
    step.timeout_at = None if step.timeout is None else clock.later(delay + step.timeout, now)
    unit.save_step(step, ["status", "attempts", "started_at", "timeout_at", *also])
    unit.send(EXECUTE, step, step.attempts, delay)


def start(unit: Unit) -> None:
    """Dispatch the saga's first stage."""
    steps = unit.lock_saga()
    first = steps[0].stage
    for step in steps:
        if step.stage == first:
            dispatch(unit, step)
    unit.notify(signals.saga_started)
