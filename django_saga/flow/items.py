"""A map stage's items: their rows, which to dispatch next, when the map is done.

The items are steps of the map's stage, reached through their map
(``Unit.items``, ``Unit.count_items``) rather than with every step of the
saga: a unit reads the saga's declared steps, its own step, and of a map's
items only what it decides on. Each item that ends lets ``advance``
dispatch the next pending ones (``next_items``, within the map's
``max_concurrency``) and, once all have ended, complete the map's row
(``settle_map``), which opens the next stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import clock, signals
from ..maps import ACTION, COMPENSATION, INDEX, INPUT, ITEM, MAX_CONCURRENCY, TIMEOUT, TOLERATE
from ..messages import EXECUTE
from ..models import DONE, IN_FLIGHT, Saga, SagaStep, StepStatus
from ..registry import step_timeout
from .history import COMPLETED, record, to_undo

if TYPE_CHECKING:
    from ..stores.base import Unit

#: Items written per statement when a map makes them.
BATCH = 500
#: An item's status that keeps its map from completing: not yet ended, or
#: undone (the map then goes back, and never completes).
UNENDED = tuple(s for s in StepStatus.values if s not in (*DONE, StepStatus.FAILED))


def item_rows(saga: Saga, step: SagaStep, values: Sequence[Any], start: int = 0) -> list[SagaStep]:
    """The step rows of the map ``step``'s items (of ``saga``), one per value,
    in order, the first one being item ``start``."""
    data = step.input
    action = str(data[ACTION])
    declared = data.get(INPUT) or {}
    timeout = step_timeout(action, data.get(TIMEOUT))
    compensation = str(data.get(COMPENSATION) or "")
    first = step.first_item_position
    return [
        SagaStep(
            saga=saga,
            position=first + index,
            stage=step.stage,
            name=f"{step.name}[{index}]",
            action=action,
            compensation=compensation,
            input={**declared, ITEM: value, INDEX: index},
            timeout=timeout,
        )
        for index, value in enumerate(values, start)
    ]


def mapped(steps: Sequence[SagaStep]) -> list[SagaStep]:
    """The maps among ``steps`` that have made their items."""
    return [s for s in steps if s.is_map and "items" in s.output]


def map_of(unit: Unit, item: SagaStep) -> SagaStep:
    """The map ``item`` belongs to."""
    return next(s for s in unit.lock_saga() if s.is_map and s.position == item.map_position)


def tolerated(map_step: SagaStep) -> int:
    """How many failed items ``map_step`` still completes with."""
    return int(map_step.input.get(TOLERATE) or 0)


def settle_map(unit: Unit, map_step: SagaStep) -> bool:
    """Complete the map if all its items have ended, no more of them failed
    than it tolerates (its output counts them and names the failed ones);
    whether it is done.

    A map that failed (too many items failed) completes too, should an
    operator's retries of its items bring the failures back within bounds.
    """
    if map_step.status in DONE:
        return True
    if map_step.status not in (StepStatus.WAITING, StepStatus.FAILED):
        return False
    if "items" not in map_step.output:
        return False  # failed before it made any item: its own failure stands
    if unit.items(map_step, UNENDED, limit=1):
        return False
    failures = unit.items(map_step, [StepStatus.FAILED])
    if len(failures) > tolerated(map_step):
        return False
    map_step.status = StepStatus.COMPLETED
    map_step.output = {
        "items": map_step.output["items"],
        "failed": [{"index": i.item_index, "step": i.name, "error": i.error} for i in failures],
    }
    map_step.error = ""
    map_step.executed_at = clock.now()
    record(map_step, EXECUTE, map_step.attempts, COMPLETED, 0)
    unit.save_step(map_step, ["status", "output", "error", "executed_at", "history"])
    unit.notify(signals.step_completed, map_step)
    return True


def next_items(unit: Unit, map_step: SagaStep) -> list[SagaStep]:
    """The map's pending items to dispatch now, in order: as many as keep
    at most its ``max_concurrency`` in flight; without one, the next
    ``BATCH`` (each item that ends dispatches more), so that one unit never
    holds them all."""
    limit = map_step.input.get(MAX_CONCURRENCY)
    room = BATCH
    if limit is not None:
        room = min(room, int(limit) - unit.count_items(map_step, IN_FLIGHT))
    if room <= 0:
        return []
    return unit.items(map_step, [StepStatus.PENDING], limit=room)


def item_failed(unit: Unit, item: SagaStep, error: str) -> bool:
    """An item failed for good (its row saved so): True if its map tolerates
    it (the stage goes on); else its map fails too, and the saga with it."""
    map_step = map_of(unit, item)
    if unit.count_items(map_step, [StepStatus.FAILED]) <= tolerated(map_step):
        return True
    map_step.status = StepStatus.FAILED
    map_step.error = f"item {item.name!r} failed: {error}"
    unit.save_step(map_step, ["status", "error"])
    return False


def reopen_map(unit: Unit, item: SagaStep) -> None:
    """An item runs again (an operator's retry): its map, failed by it,
    waits for its items again, and completes if they now end within bounds."""
    map_step = map_of(unit, item)
    if map_step.status == StepStatus.FAILED:
        map_step.status = StepStatus.WAITING
        map_step.error = ""
        unit.save_step(map_step, ["status", "error"])


def items_moving(unit: Unit, steps: Sequence[SagaStep]) -> bool:
    """Whether an item of a map among ``steps`` is still running, waiting
    or compensating: the saga's compensation waits for it."""
    moving = (*IN_FLIGHT, StepStatus.COMPENSATING)
    return any(unit.items(m, moving, limit=1) for m in mapped(steps))


def items_to_undo(unit: Unit, map_step: SagaStep) -> list[SagaStep]:
    """The map's next items to compensate (``BATCH`` at most: the rest once
    those are undone): the completed ones, then those whose wait ended
    without completing them (``history.to_undo``)."""
    completed = unit.items(map_step, [StepStatus.COMPLETED], limit=BATCH)
    if completed:
        return completed
    # Failed or cancelled: only those that ran can have waited.
    ended = unit.items(map_step, [StepStatus.FAILED, StepStatus.CANCELLED])
    return [i for i in ended if i.attempts and to_undo(i)][:BATCH]
