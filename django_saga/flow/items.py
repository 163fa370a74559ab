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
from ..models import CHILD_ACTION, DONE, IN_FLIGHT, Saga, SagaStep, StepStatus
from ..registry import step_timeout
from .history import COMPLETED, record, to_undo

if TYPE_CHECKING:
    from ..stores.base import Unit

#: Items written per statement when a map makes them.
BATCH = 500
#: Keys of a map's output while its items run: items ``[0, dispatched)``
#: went out, in order, and every item below ``ended_below`` has ended.
DISPATCHED = "dispatched"
ENDED_BELOW = "ended_below"
#: The widest window of open items read by position (``_open_items``).
WINDOW = 2 * BATCH
#: An item's end that lets its map complete (up to the map's ``tolerate`` failed).
_ENDED = (*DONE, StepStatus.FAILED)
#: An item's status that keeps its map from completing: not yet ended, or
#: undone (the map then goes back, and never completes).
UNENDED = tuple(s for s in StepStatus.values if s not in (*DONE, StepStatus.FAILED))


def item_rows(saga: Saga, step: SagaStep, values: Sequence[Any], start: int = 0) -> list[SagaStep]:
    """The step rows of the map ``step``'s items (of ``saga``), one per value,
    in order, the first one being item ``start``."""
    data = step.input
    action = str(data[ACTION])
    declared = data.get(INPUT) or {}
    # A child saga's step waits for it as long as it runs (a deadline bounds it).
    timeout = None if action == CHILD_ACTION else step_timeout(action, data.get(TIMEOUT))
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
    output = map_step.output
    if "items" not in output or output.get(DISPATCHED, 0) < output["items"]:
        return False  # it made no item (its own failure stands), or some wait to go
    still = _open_items(unit, map_step)
    if still is None:
        moving = bool(unit.items(map_step, UNENDED, limit=1))
    else:
        moving = any(status not in _ENDED for status in still)
    if moving:
        return False
    failures = unit.items(map_step, [StepStatus.FAILED])
    if len(failures) > tolerated(map_step):
        return False
    map_step.status = StepStatus.COMPLETED
    map_step.output = {
        "items": output["items"],
        "failed": [{"index": i.item_index, "step": i.name, "error": i.error} for i in failures],
    }
    map_step.error = ""
    map_step.executed_at = clock.now()
    record(map_step, EXECUTE, map_step.attempts, COMPLETED, 0)
    unit.save_step(map_step, ["status", "output", "error", "executed_at", "history"])
    unit.notify(signals.step_completed, map_step)
    return True


def next_items(unit: Unit, map_step: SagaStep) -> list[SagaStep]:
    """The map's next items to dispatch, in order: as many as keep at most
    its ``max_concurrency`` in flight (``BATCH`` without one, so that the
    window of open items stays narrow), at most ``BATCH`` at a time, so that
    no unit holds them all. They count as dispatched from here: the caller
    dispatches them."""
    output = map_step.output
    sent = output.get(DISPATCHED, 0)
    if sent >= output["items"]:
        return []
    limit = int(map_step.input.get(MAX_CONCURRENCY) or BATCH)
    still = _open_items(unit, map_step)
    flying = (
        unit.count_items(map_step, IN_FLIGHT)
        if still is None
        else sum(1 for status in still if status in IN_FLIGHT)
    )
    room = min(limit - flying, BATCH)
    if room <= 0:
        return []
    upto = min(output["items"], sent + room)
    items = unit.item_range(map_step, sent, upto)
    map_step.output = {**map_step.output, DISPATCHED: upto}
    unit.save_step(map_step, ["output"])
    return [i for i in items if i.status == StepStatus.PENDING]


def _open_items(unit: Unit, map_step: SagaStep) -> list[str] | None:
    """The statuses of the map's dispatched items not known to have ended,
    read by their positions (``[ended_below, dispatched)``, the ended ones at
    its start passed over for good); None when that window is wider than
    ``WINDOW`` (an early item waits long): the caller then asks the status
    index."""
    output = map_step.output
    low, high = output.get(ENDED_BELOW, 0), output.get(DISPATCHED, 0)
    if high - low > WINDOW:
        return None
    statuses = unit.item_statuses(map_step, low, high)
    ended = 0
    while ended < len(statuses) and statuses[ended] in _ENDED:
        ended += 1
    if ended:
        map_step.output = {**output, ENDED_BELOW: low + ended}
        unit.save_step(map_step, ["output"])
    return statuses[ended:]


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
    fields = []
    if map_step.status == StepStatus.FAILED:
        map_step.status = StepStatus.WAITING
        map_step.error = ""
        fields += ["status", "error"]
    if item.item_index < map_step.output.get(ENDED_BELOW, 0):
        # It runs again: its window of open items reaches back to it.
        map_step.output = {**map_step.output, ENDED_BELOW: item.item_index}
        fields.append("output")
    if fields:
        unit.save_step(map_step, fields)


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
