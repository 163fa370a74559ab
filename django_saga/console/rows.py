"""What one row of a list or one step card shows: view objects built beside the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..actions import Action
from ..models import Intervention, Saga, SagaStep
from .formatting import ago, format_duration, pretty_json, progress_text, saga_duration


@dataclass(frozen=True)
class SagaRow:
    """A saga in the console's list."""

    saga: Saga
    progress: str
    duration: str


@dataclass(frozen=True)
class AttentionRow:
    """A saga that waits for an operator, or is stuck, and since when."""

    saga: Saga
    since: str


def saga_rows(sagas: Any, now: datetime) -> list[SagaRow]:
    """Rows for sagas annotated by ``queries.with_progress``."""
    return [
        SagaRow(saga, progress_text(saga), format_duration(saga_duration(saga, now)))
        for saga in sagas
    ]


def attention_rows(sagas: Any, now: datetime) -> list[AttentionRow]:
    return [AttentionRow(saga, ago(saga.updated_at, now)) for saga in sagas]


@dataclass(frozen=True)
class ActionLink:
    """A button on a saga's page: an action that applies as things stand, and its page."""

    action: Action
    url: str


@dataclass
class StepView:
    """A step and what its card on the saga page shows."""

    step: SagaStep
    input_json: str
    output_json: str
    history: list[dict[str, Any]]
    #: Set on the first step of a parallel stage: the heading shown above it.
    stage_heading: str = ""
    #: The step runs in parallel with others of its stage.
    in_parallel: bool = False
    #: What the user may do to the step as it stands (retry, skip).
    actions: list[ActionLink] = field(default_factory=list)
    #: A map's row: how many of its items are in each status, (label, count).
    item_counts: list[tuple[str, int]] = field(default_factory=list)
    #: What its held message waits for (a pause, a slot); "" if none is held.
    waits: str = ""


def step_views(stages: list[list[SagaStep]], sizes: dict[int, int]) -> list[StepView]:
    """Cards for ``stages``; ``sizes`` counts each stage's steps, on this page or not."""
    views = []
    for stage in stages:
        for index, step in enumerate(stage):
            view = _step_view(step)
            size = sizes.get(step.stage, len(stage))
            if size > 1:
                view.in_parallel = True
                if index == 0:
                    view.stage_heading = f"{size} steps in parallel"
            views.append(view)
    return views


def by_stage(steps: list[SagaStep]) -> list[list[SagaStep]]:
    """``steps`` (in order) grouped by stage."""
    grouped: dict[int, list[SagaStep]] = {}
    for step in steps:
        grouped.setdefault(step.stage, []).append(step)
    return list(grouped.values())


def _step_view(step: SagaStep) -> StepView:
    history = [
        {
            "kind": entry.get("kind", ""),
            "attempt": entry.get("attempt", ""),
            "outcome": entry.get("outcome", ""),
            "at": _parse_time(entry.get("at")),
            "duration_ms": entry.get("duration_ms"),
            "error": entry.get("error", ""),
            "retry_in": entry.get("retry_in"),
            "reason": entry.get("reason", ""),
        }
        for entry in (step.history if isinstance(step.history, list) else [])
        if isinstance(entry, dict)
    ]
    return StepView(step, pretty_json(step.input), pretty_json(step.output), history)


def _parse_time(value: Any) -> datetime | str:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return "" if value is None else str(value)


@dataclass(frozen=True)
class TrailRow:
    """One operator action on a saga's page: the record and its details as JSON."""

    entry: Intervention
    details_json: str


def trail_rows(entries: list[Intervention]) -> list[TrailRow]:
    return [TrailRow(entry, pretty_json(entry.details)) for entry in entries]
