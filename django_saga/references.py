"""References to what a saga learnt on the way, read when a step starts.

A sleep's delay and a map's list may name a value the caller did not know
at ``start()``: ``"context.return_days"`` (a key of the saga's context,
dots going deeper) or ``"load_order.items"`` (a key of the output of the
earlier step ``load_order``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import SagaDefinitionError, brief
from .models import Saga

#: A reference's first part that names the saga's context (any other names a step).
CONTEXT = "context"


def reference(value: Any, field: str) -> str:
    """``value`` checked as a reference (``field`` names it in the error)."""
    if not isinstance(value, str) or "." not in value or not all(value.split(".")):
        raise SagaDefinitionError(
            f"{field} must be a reference like 'context.key' or 'step.key', got {brief(value)}"
        )
    return value


def read(saga: Saga, ref: str, where: str) -> Any:
    """The value ``ref`` names in the saga: ``context.a.b``, or ``step.a.b``
    (an earlier step's output). Raises ``SagaDefinitionError`` naming what
    is missing (``where``: the step that reads it)."""
    first, *path = ref.split(".")
    if first == CONTEXT:
        found: Any = saga.context
        whose = "the saga's context"
    else:
        step = next((s for s in saga.steps if s.name == first), None)
        if step is None:
            raise SagaDefinitionError(f"{where} reads {ref!r}: the saga has no step {first!r}")
        found = step.output
        whose = f"the output of step {first!r}"
    for part in path:
        if not isinstance(found, Mapping) or part not in found:
            raise SagaDefinitionError(f"{where} reads {ref!r}: {whose} has no {part!r}")
        found = found[part]
    return found
