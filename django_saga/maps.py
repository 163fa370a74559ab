"""Map stages: one step per item of a list that only the saga knows.

``each("reserve", "inventory.reserve", "inventory.release", over="load_order.items")``
declares a stage whose steps are made when the saga reaches it: one per
item of the list the reference names (the saga's context, or an earlier
step's output). Each item runs the action with the declared input plus
``item`` (the list's element) and ``index`` (its place in the list). The
stage behaves as a parallel stage of those steps: the next stage waits for
all of them; when one fails for good, the items not yet started are
cancelled, the running ones finish and every completed one is compensated,
then the earlier stages in reverse. ``max_concurrency`` keeps at most that
many items in flight; ``tolerate`` lets the stage complete with up to that
many failed items, named in its output.

The stage is one row in the saga's declared steps (action ``saga.map``),
which no handler runs: its message reads the list and writes the items'
rows (``flow.fanout``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import children, validation
from .errors import SagaDefinitionError, brief
from .models import CHILD_ACTION, MAP_ACTION
from .models.step import MAP_POSITIONS_MAX
from .outcomes import FAN_OUT
from .references import reference
from .steps import BaseDefinition, StagedStep, Step

#: The keys of a map row's input.
OVER = "over"
ACTION = "action"
COMPENSATION = "compensation"
INPUT = "input"
MAX_CONCURRENCY = "max_concurrency"
TOLERATE = "tolerate"
TIMEOUT = "timeout"
_KEYS = (OVER, ACTION, COMPENSATION, INPUT, MAX_CONCURRENCY, TOLERATE, TIMEOUT)
#: The keys each item's input gets besides the declared ones.
ITEM = "item"
INDEX = "index"
#: Room an item's name takes after the map's: ``reserve[123456]``.
_SUFFIX_CHARS = 9


def each(
    name: str,
    action: str | BaseDefinition | type[BaseDefinition],
    compensation: str = "",
    *,
    over: str,
    input: Mapping[str, Any] | None = None,
    max_concurrency: int | None = None,
    tolerate: int = 0,
    timeout: float | None = None,
    parent_close: str = children.COMPENSATE,
) -> Step:
    """A map stage: one step running ``action`` (undone by ``compensation``)
    per item of the list ``over`` names, read when the stage starts:
    ``"context.lines"`` or ``"load_order.items"`` (a key of the earlier step
    ``load_order``'s output), or a step's name alone, for the list its
    handler returned as a ``FanOut``.

    Item ``i`` is the step ``name[i]``, its input ``input`` plus ``item``
    and ``index``. At most ``max_concurrency`` items are in flight at once
    (None: 500); up to ``tolerate`` failed items still let the stage
    complete. A map is a stage of its own, and its list holds at most
    ``SAGA['MAP_MAX_ITEMS']`` items.

    ``action`` may be a saga definition (a class, or an instance with
    params) instead: each item is then a child saga made with ``item`` and
    ``index`` added to the params (``django_saga.child``, whose
    ``parent_close`` it takes).
    """
    where = f"Map {brief(name)}"
    if isinstance(over, str) and over and "." not in over:
        # A step alone: the list its handler returned as a FanOut.
        over = f"{over}.{FAN_OUT}"
    if not isinstance(action, str):
        if compensation or input:
            raise SagaDefinitionError(
                f"{where} runs child sagas: they are undone by their own compensations "
                "and take their params from the definition, so give neither "
                "compensation nor input"
            )
        input = {**children.child_input(action, name), children.PARENT_CLOSE: parent_close}
        compensation = CHILD_ACTION if parent_close == children.COMPENSATE else ""
        action = CHILD_ACTION
    map_input = {
        OVER: reference(over, f"{where} over"),
        ACTION: action,
        COMPENSATION: compensation,
        INPUT: dict(input or {}),
        MAX_CONCURRENCY: max_concurrency,
        TOLERATE: tolerate,
        TIMEOUT: timeout,
    }
    step = Step(name, MAP_ACTION, "", map_input)
    check(step)
    return step


def check(step: Step) -> None:
    """Refuse a map whose input could not run (a step declared as a dict
    names the map action itself)."""
    where = f"Map {brief(step.name)}"
    if not isinstance(step.name, str) or len(step.name) + _SUFFIX_CHARS > validation.NAME_MAX_CHARS:
        raise SagaDefinitionError(
            f"{where}: a map's name takes at most "
            f"{validation.NAME_MAX_CHARS - _SUFFIX_CHARS} characters (its items add [index])"
        )
    data = step.input
    unknown = set(data) - set(_KEYS)
    if unknown or OVER not in data or ACTION not in data:
        raise SagaDefinitionError(
            f"{where} needs 'over' and 'action' in its input, and takes only "
            f"{', '.join(_KEYS)}; got {', '.join(sorted(map(str, data))) or 'none'}"
        )
    if step.compensation:
        raise SagaDefinitionError(
            f"{where}: its items are undone by their own compensation, the map takes none"
        )
    reference(data[OVER], f"{where} over")
    for key in (ACTION, COMPENSATION):
        if not isinstance(data.get(key, ""), str):
            raise SagaDefinitionError(
                f"{where} {key} must be an action name, got {brief(data[key])}"
            )
    if not data[ACTION]:
        raise SagaDefinitionError(f"{where} needs an action for its items")
    if data[ACTION] == CHILD_ACTION:
        # Each item is a child step: its input must start one.
        children.check(
            Step(f"{step.name}[0]", CHILD_ACTION, data.get(COMPENSATION) or "", data.get(INPUT, {}))
        )
        if data.get(TIMEOUT) is not None:
            raise SagaDefinitionError(
                f"{where} runs child sagas, which take no timeout (give them a deadline)"
            )
    if not isinstance(data.get(INPUT, {}), Mapping):
        raise SagaDefinitionError(f"{where} input must be a dict, got {brief(data[INPUT])}")
    if {ITEM, INDEX} & set(data.get(INPUT, {})):
        raise SagaDefinitionError(
            f"{where} input may not set {ITEM!r} or {INDEX!r}: each item gets its own"
        )
    concurrency = data.get(MAX_CONCURRENCY)
    if concurrency is not None and (not _whole(concurrency) or concurrency < 1):
        raise SagaDefinitionError(
            f"{where} max_concurrency must be a whole number of at least 1, or None; "
            f"got {brief(concurrency)}"
        )
    tolerate = data.get(TOLERATE, 0)
    if not _whole(tolerate) or tolerate < 0:
        raise SagaDefinitionError(
            f"{where} tolerate must be a whole number of 0 or more, got {brief(tolerate)}"
        )
    validation.seconds(data.get(TIMEOUT), f"{where} timeout")


def check_stages(steps: list[StagedStep]) -> None:
    """Refuse maps where the saga's layout has no room for them: beside other
    steps in a stage, at a position past ``MAP_POSITIONS_MAX``, as the pivot,
    or after it with items to undo."""
    pivot = next((s for s in steps if s.step.pivot), None)
    for position, staged in enumerate(steps):
        step = staged.step
        if step.action != MAP_ACTION:
            continue
        where = f"Map {step.name!r}"
        beside = [s.step.name for s in steps if s.stage == staged.stage and s is not staged]
        if beside:
            raise SagaDefinitionError(
                f"{where} shares its stage with {', '.join(map(repr, beside))}: a map is a "
                "stage of its own (its items are the stage's steps)"
            )
        if position >= MAP_POSITIONS_MAX:
            raise SagaDefinitionError(
                f"{where} is step #{position + 1}: maps may be among the first "
                f"{MAP_POSITIONS_MAX} steps of a saga"
            )
        if step.pivot:
            raise SagaDefinitionError(f"{where} cannot be the pivot: a pivot is one step")
        if pivot is not None and staged.stage > pivot.stage and step.input.get(COMPENSATION):
            fix = (
                "declare it with parent_close='abandon'"
                if step.input[ACTION] == CHILD_ACTION
                else "leave it empty"
            )
            raise SagaDefinitionError(
                f"{where} comes after pivot step {pivot.step.name!r} and declares compensation "
                f"{step.input[COMPENSATION]!r} for its items, which could never run: {fix}"
            )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
