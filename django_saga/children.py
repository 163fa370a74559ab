"""Child steps: a step whose work is a saga of its own.

``child("ship_parcel", ShipParcel(parcel=3))`` declares a step that, when
the saga reaches it, starts the saga the definition builds (its child, with
its own id, steps, page and operator actions) and waits for it to end. The
child ``completed`` completes the step, with the child's outputs; the child
``compensated`` fails it, and the parent compensates as usual; a child
halted, failed or whose compensation failed leaves the step waiting, its
error saying so, until an operator settles the child.

``parent_close`` says what compensating the parent does to the child:
``"compensate"`` (the default) undoes a completed child and cancels a
running one, through the child's own compensations; ``"abandon"`` leaves
it alone. A map stage's items may be child sagas too: ``each("ship",
ShipParcel, over="pack.parcels")`` starts one per item, each made with the
item and its index as ``item`` and ``index`` params.

The step is one row (action ``saga.child``) that no handler runs: its
message starts the child (``flow.children``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import validation
from .errors import SagaDefinitionError, brief
from .models import CHILD_ACTION
from .steps import BaseDefinition, Step, build_definition

#: The keys of a child step's input.
DEFINITION = "definition"
PARAMS = "params"
PARENT_CLOSE = "parent_close"
_KEYS = (DEFINITION, PARAMS, PARENT_CLOSE)
#: The keys an item of a map of child sagas adds (``maps.ITEM``, ``maps.INDEX``).
_ITEM_KEYS = ("item", "index")
#: Parent-close policies.
COMPENSATE = "compensate"
ABANDON = "abandon"
POLICIES = (COMPENSATE, ABANDON)


def child(
    name: str,
    definition: BaseDefinition | type[BaseDefinition],
    *,
    parent_close: str = COMPENSATE,
) -> Step:
    """A step that runs ``definition`` (an instance with its params, or the
    class for no params) as a saga of its own and ends as it does.

    ``parent_close``: ``"compensate"`` undoes the child when the parent is
    compensated (cancelling it if it still runs), ``"abandon"`` leaves it be.
    """
    data = {**child_input(definition, name), PARENT_CLOSE: parent_close}
    step = Step(name, CHILD_ACTION, _compensation(parent_close), data)
    check(step)
    return step


def child_input(definition: Any, where: str) -> dict[str, Any]:
    """The input naming ``definition`` (a class or an instance) and its params."""
    kind = definition if isinstance(definition, type) else type(definition)
    if not issubclass(kind, BaseDefinition):
        raise SagaDefinitionError(
            f"Step {brief(where)}: a child saga is a SagaDefinition (a class or an "
            f"instance), got {brief(definition)}"
        )
    if "<locals>" in kind.__qualname__:
        raise SagaDefinitionError(
            f"Step {brief(where)}: {kind.__qualname__} is defined inside a function; an "
            "engine imports a child's definition by its dotted path, so it must be "
            "defined at a module's top level"
        )
    params = {} if isinstance(definition, type) else dict(definition.params)
    return {DEFINITION: kind.path(), PARAMS: params}


def check(step: Step) -> None:
    """Refuse a child step whose input could not start a saga (a step declared
    as a dict names the child action itself)."""
    where = f"Child step {brief(step.name)}"
    data = step.input
    unknown = set(data) - set(_KEYS) - set(_ITEM_KEYS)
    if unknown or DEFINITION not in data:
        raise SagaDefinitionError(
            f"{where} needs 'definition' in its input, and takes only "
            f"{', '.join(_KEYS)}; got {', '.join(sorted(map(str, data))) or 'none'}"
        )
    if not isinstance(data[DEFINITION], str) or not data[DEFINITION]:
        raise SagaDefinitionError(
            f"{where} definition must be a dotted path, got {brief(data[DEFINITION])}"
        )
    if not isinstance(data.get(PARAMS, {}), Mapping):
        raise SagaDefinitionError(f"{where} params must be a dict, got {brief(data[PARAMS])}")
    validation.to_json(dict(data.get(PARAMS, {})), f"{where} params")
    policy = data.get(PARENT_CLOSE, COMPENSATE)
    if policy not in POLICIES:
        raise SagaDefinitionError(
            f"{where} parent_close must be one of {', '.join(POLICIES)}, got {brief(policy)}"
        )
    if step.compensation != _compensation(policy):
        raise SagaDefinitionError(
            f"{where} is undone by its child's own compensations: its compensation is "
            f"{_compensation(policy)!r} for parent_close {policy!r}, not {brief(step.compensation)}"
        )
    if step.timeout is not None:
        raise SagaDefinitionError(
            f"{where} takes no timeout: it ends when its child does (give the child a deadline)"
        )


def build(data: Mapping[str, Any], where: str) -> BaseDefinition:
    """The child's definition, made with its params (and, for an item of a
    map, the item and its index)."""
    params = {**dict(data.get(PARAMS) or {}), **{k: data[k] for k in _ITEM_KEYS if k in data}}
    return build_definition(str(data[DEFINITION]), params, where)


def key(parent_id: str, step_name: str) -> str:
    """The child's business key: one unfinished child per parent step, so a
    start delivered twice finds the first child."""
    return f"{parent_id}:{step_name}"


def policy(data: Mapping[str, Any]) -> str:
    """The parent-close policy of a child step's input."""
    return str(data.get(PARENT_CLOSE, COMPENSATE))


def _compensation(parent_close: Any) -> str:
    return CHILD_ACTION if parent_close == COMPENSATE else ""
