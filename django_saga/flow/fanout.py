"""A map stage's message: read the list, make the items, wait for them.

The map's row is dispatched like any step. Its message reads the list the
map names, writes one step row per item in the same transaction, leaves the
row ``waiting`` for them and dispatches the first (``advance``); the items
then run as the steps of the map's stage (``flow.items``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import clock
from ..conf import saga_settings
from ..errors import SagaDefinitionError, brief
from ..maps import OVER
from ..messages import EXECUTE
from ..models import SagaStep, StepStatus
from ..references import read
from .forward import advance, step_failed
from .history import FAILED, record
from .items import BATCH, DISPATCHED, ENDED_BELOW, item_rows

if TYPE_CHECKING:
    from ..stores.base import Unit

#: The history outcome of a map's message that made its items.
FANNED_OUT = "fanned out"


def map_message(unit: Unit, step: SagaStep) -> str:
    """Act on the message of a map's row, its saga going forward: make its
    items and dispatch the first of them (or fail the row, naming why the
    list cannot be mapped). Returns the history outcome."""
    unit.lock_saga()
    try:
        values = _values(unit, step)
    except SagaDefinitionError as exc:
        error = f"{type(exc).__name__}: {exc}"
        record(step, EXECUTE, step.attempts, FAILED, 0, error)
        step_failed(unit, step, error, 0)
        return FAILED
    # In batches: a long list's rows are never all held at once.
    for start in range(0, len(values), BATCH):
        unit.add_steps(item_rows(unit.saga, step, values[start : start + BATCH], start))
    step.status = StepStatus.WAITING
    step.output = {"items": len(values), DISPATCHED: 0, ENDED_BELOW: 0}
    step.executed_at = clock.now()
    step.timeout_at = None
    record(step, EXECUTE, step.attempts, FANNED_OUT, 0, note={"items": len(values)})
    unit.save_step(step, ["status", "output", "executed_at", "timeout_at", "history"])
    advance(unit)
    return FANNED_OUT


def _values(unit: Unit, step: SagaStep) -> list[Any]:
    where = f"map {step.name!r}"
    values = read(unit.saga, str(step.input.get(OVER, "")), where)
    if not isinstance(values, list):
        raise SagaDefinitionError(
            f"{where} maps over {step.input.get(OVER)!r}, which is not a list: {brief(values)}"
        )
    limit = int(saga_settings.MAP_MAX_ITEMS)
    if len(values) > limit:
        raise SagaDefinitionError(
            f"{where} got {len(values):,} items, more than SAGA['MAP_MAX_ITEMS'] ({limit:,}): "
            "split the list, or raise the setting"
        )
    return values
