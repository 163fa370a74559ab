"""A map stage's items: their rows, which to dispatch next, when the map is done.

The items are steps of the map's stage. Each one that ends lets ``advance``
dispatch the next pending ones (``next_items``, within the map's
``max_concurrency``) and, once all have ended, complete the map's row
(``settle_maps``), which opens the next stage. Going back needs nothing of
its own: completed items are steps of the stage and are undone with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import clock, signals
from ..maps import ACTION, COMPENSATION, INDEX, INPUT, ITEM, MAX_CONCURRENCY, TIMEOUT, TOLERATE
from ..messages import EXECUTE
from ..models import DONE, IN_FLIGHT, Saga, SagaStep, StepStatus
from ..models.step import ITEM_POSITIONS, MAP_ITEMS_MAX
from ..registry import step_timeout
from .history import COMPLETED, record

if TYPE_CHECKING:
    from ..stores.base import Unit

#: An item's end that lets its map complete (up to the map's ``tolerate`` failed).
_ENDED = (*DONE, StepStatus.FAILED)


def item_rows(saga: Saga, step: SagaStep, values: Sequence[Any]) -> list[SagaStep]:
    """The step rows of the map ``step``'s items (of ``saga``), one per value, in order."""
    data = step.input
    action = str(data[ACTION])
    declared = data.get(INPUT) or {}
    timeout = step_timeout(action, data.get(TIMEOUT))
    first = ITEM_POSITIONS + step.position * MAP_ITEMS_MAX
    return [
        SagaStep(
            saga=saga,
            position=first + index,
            stage=step.stage,
            name=f"{step.name}[{index}]",
            action=action,
            compensation=str(data.get(COMPENSATION) or ""),
            input={**declared, ITEM: value, INDEX: index},
            timeout=timeout,
        )
        for index, value in enumerate(values)
    ]


def items_of(steps: Sequence[SagaStep], map_step: SagaStep) -> list[SagaStep]:
    """The items of ``map_step`` among ``steps``, in order."""
    return [s for s in steps if s.is_item and s.map_position == map_step.position]


def settled_maps(steps: Sequence[SagaStep]) -> set[int]:
    """Positions of the maps that are done: their items count as done too."""
    return {s.position for s in steps if s.is_map and s.status in DONE}


def settle_maps(unit: Unit, steps: Sequence[SagaStep]) -> None:
    """Complete each map whose items have all ended, no more of them failed
    than it tolerates; its output counts them and names the failed ones.

    A map that failed (too many items failed) completes too, should an
    operator's retries of its items bring the failures back within bounds.
    """
    for step in steps:
        if not step.is_map or step.status not in (StepStatus.WAITING, StepStatus.FAILED):
            continue
        if "items" not in step.output:
            continue  # failed before it made any item: its own failure stands
        items = items_of(steps, step)
        failed = [i for i in items if i.status == StepStatus.FAILED]
        if any(i.status not in _ENDED for i in items) or len(failed) > tolerated(step):
            continue
        step.status = StepStatus.COMPLETED
        step.output = {
            "items": len(items),
            "failed": [{"index": i.item_index, "step": i.name, "error": i.error} for i in failed],
        }
        step.error = ""
        step.executed_at = clock.now()
        record(step, EXECUTE, step.attempts, COMPLETED, 0)
        unit.save_step(step, ["status", "output", "error", "executed_at", "history"])
        unit.notify(signals.step_completed, step)


def tolerated(map_step: SagaStep) -> int:
    """How many failed items ``map_step`` still completes with."""
    value = map_step.input.get(TOLERATE) or 0
    return int(value)


def next_items(map_step: SagaStep, steps: Sequence[SagaStep]) -> list[SagaStep]:
    """The map's pending items to dispatch now, in order: as many as keep
    at most its ``max_concurrency`` in flight (all of them without one)."""
    limit = map_step.input.get(MAX_CONCURRENCY)
    items = items_of(steps, map_step)
    pending = [i for i in items if i.status == StepStatus.PENDING]
    if limit is None:
        return pending
    flying = sum(1 for i in items if i.status in IN_FLIGHT)
    return pending[: max(int(limit) - flying, 0)]


def item_failed(unit: Unit, item: SagaStep, steps: Sequence[SagaStep], error: str) -> bool:
    """An item failed for good: True if its map tolerates it (the stage goes
    on); else its map fails too, and the saga with it."""
    map_step = next(s for s in steps if s.is_map and s.position == item.map_position)
    failed = sum(1 for i in items_of(steps, map_step) if i.status == StepStatus.FAILED)
    if failed <= tolerated(map_step):
        return True
    map_step.status = StepStatus.FAILED
    map_step.error = f"item {item.name!r} failed: {error}"
    unit.save_step(map_step, ["status", "error"])
    return False


def reopen_map(unit: Unit, item: SagaStep) -> None:
    """An item runs again (an operator's retry): its map, failed by it,
    waits for its items again, and completes if they now end within bounds."""
    steps = unit.lock_saga()
    map_step = next(s for s in steps if s.is_map and s.position == item.map_position)
    if map_step.status == StepStatus.FAILED:
        map_step.status = StepStatus.WAITING
        map_step.error = ""
        unit.save_step(map_step, ["status", "error"])
