"""A saga, a step and a trail entry as JSON: one shape for every door.

The JSON API, ``manage.py saga --json`` and the console's pages read these;
the field names are documented once, in ``docs/reference/json.md``. (An
archive keeps whole rows instead: it is a backup, restored column by column.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .models import Intervention, Saga, SagaStep


def saga_json(saga: Saga) -> dict[str, Any]:
    """A saga's own fields, without its steps, context or trail."""
    return {
        "saga_id": saga.pk,
        "name": saga.name,
        "key": saga.key,
        "state": saga.state,
        "error": saga.error,
        "created_at": saga.created_at,
        "updated_at": saga.updated_at,
        "completed_at": saga.completed_at,
        "deadline_at": saga.deadline_at,
        "definition": saga.definition,
        "version": saga.version,
        "parent_id": saga.parent_id,
        "parent_step_id": saga.parent_step_id,
        "depth": saga.depth,
    }


def child_json(child: Saga) -> dict[str, Any]:
    """A child saga by reference: enough to find it, and to tell how it ended."""
    return {
        "saga_id": child.pk,
        "name": child.name,
        "state": child.state,
        "parent_step_id": child.parent_step_id,
    }


def step_json(step: SagaStep, *, content: bool = False) -> dict[str, Any]:
    """A step's fields; ``content`` adds its input, output and history (they
    may be large, and hold what the saga's business holds)."""
    fields: dict[str, Any] = {
        "id": step.pk,
        "position": step.position,
        "stage": step.stage,
        "name": step.name,
        "action": step.action,
        "compensation": step.compensation,
        "pivot": step.pivot,
        "status": step.status,
        "attempts": step.attempts,
        "compensation_attempts": step.compensation_attempts,
        "executed_at": step.executed_at,
        "compensated_at": step.compensated_at,
        "sleeping_until": step.sleeping_until,
        "error": step.error,
    }
    if content:
        fields.update(input=step.input, output=step.output, history=step.history)
    return fields


def intervention_json(entry: Intervention) -> dict[str, Any]:
    """One operator action of a saga's trail."""
    return {
        "at": entry.at,
        "by": entry.actor,
        "action": entry.action,
        "step": entry.step,
        "reason": entry.reason,
        "batch": entry.batch,
        "details": entry.details,
    }


def saga_document(
    saga: Saga,
    trail: Iterable[Intervention],
    children: Iterable[Saga] = (),
    *,
    content: bool = False,
) -> dict[str, Any]:
    """A saga with its steps, its child sagas by reference and its trail;
    ``content`` adds its context and its steps' input, output and history."""
    return {
        **saga_json(saga),
        **({"context": saga.context} if content else {}),
        "steps": [step_json(step, content=content) for step in saga.steps],
        "children": [child_json(child) for child in children],
        "interventions": [intervention_json(entry) for entry in trail],
    }
