"""What ``start()`` is asked, checked before anything is written, and laid
out as the rows of a new saga: one place for every way a saga starts
(``start``, ``start_definition``, ``start_together``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import children, clock, maps, sleeps, tasks, tracing, validation
from .conf import saga_settings
from .errors import SagaDefinitionError, UnknownActionError, brief
from .messages import COMPENSATE, EXECUTE
from .models import (
    CHILD_ACTION,
    KEY_MAX_CHARS,
    MAP_ACTION,
    SLEEP_ACTION,
    TASK_ACTION,
    Saga,
    SagaStep,
)
from .models.saga import PRIORITIES
from .registry import registry, step_timeout
from .steps import Declared, StagedStep, Step, definition_class, normalise_steps


@dataclass(frozen=True)
class Checked:
    """A start checked and ready to write: the saga's fields and its steps."""

    name: str
    key: str
    context: dict[str, Any]
    deadline_at: datetime | None
    definition: str
    version: str
    declared: list[StagedStep]
    timeouts: list[float | None]
    priority: int = 0

    def rows(self) -> tuple[Saga, list[SagaStep]]:
        """A new saga row with its steps (a new id each call)."""
        saga = Saga(
            name=self.name,
            key=self.key,
            context=self.context,
            deadline_at=self.deadline_at,
            definition=self.definition,
            version=self.version,
            priority=self.priority,
        )
        # Under the caller's span (the request's): every step's span joins its trace.
        saga.trace_context = tracing.saga_started(saga)
        records = [
            SagaStep(
                saga=saga,
                position=position,
                stage=staged.stage,
                name=staged.step.name,
                action=staged.step.action,
                compensation=staged.step.compensation,
                pivot=staged.step.pivot,
                input=staged.step.input,
                timeout=self.timeouts[position],
            )
            for position, staged in enumerate(self.declared)
        ]
        return saga, records


def check_start(
    name: str,
    steps: Iterable[Declared],
    context: Mapping[str, Any] | None,
    deadline: datetime | timedelta | float | None,
    key: str,
    origin: tuple[str, str] = ("", ""),
    priority: str = "normal",
) -> Checked:
    """What ``start()`` is asked, checked: raises ``SagaDefinitionError``
    naming what is wrong before anything is written."""
    validation.text(name, "The saga's name", validation.NAME_MAX_CHARS, plain=validation.LABEL)
    key = validation.text(key, "The key", KEY_MAX_CHARS, blank=True, plain=validation.LABEL)
    declared = normalise_steps(steps)
    maps.check_stages(declared)
    if context is not None and not isinstance(context, Mapping):
        raise SagaDefinitionError(f"context must be a dict, got {type(context).__name__}")
    saga_context = validation.to_json(dict(context or {}), f"Context of saga {name!r}")
    if saga_settings.CHECK_HANDLERS_ON_START:
        _check_handlers([staged.step for staged in declared])
    return Checked(
        name=name,
        key=key,
        context=saga_context,
        deadline_at=validation.when(deadline, "deadline", clock.now()),
        definition=validation.text(
            origin[0], "The definition's path", 300, blank=True, plain=validation.LABEL
        ),
        version=validation.text(
            origin[1], "The definition's version", 50, blank=True, plain=validation.LABEL
        ),
        declared=declared,
        timeouts=[_timeout(staged.step) for staged in declared],
        priority=_priority(priority),
    )


def _priority(priority: str) -> int:
    if not isinstance(priority, str) or priority not in PRIORITIES:
        raise SagaDefinitionError(
            f"priority must be one of {', '.join(map(repr, PRIORITIES))}, got {brief(priority)}"
        )
    return PRIORITIES[priority]


def _timeout(step: Step) -> float | None:
    if step.action in (SLEEP_ACTION, MAP_ACTION, CHILD_ACTION, TASK_ACTION):
        # A sleep wakes when it is due; a map ends when its items do, a child
        # step when its saga does, a task when a person answers (or its due
        # time escalates it).
        return None
    return step_timeout(step.action, step.timeout)


def _check_handlers(steps: list[Step]) -> None:
    for step in steps:
        if step.action == SLEEP_ACTION:
            sleeps.check(step)
            continue
        if step.action == MAP_ACTION:
            maps.check(step)
            if step.input[maps.ACTION] == CHILD_ACTION:
                # Its items' params are known only when it runs: the class, now.
                definition_class(step.input[maps.INPUT][children.DEFINITION], f"Map {step.name!r}")
                continue
            _check_actions(step.name, step.input[maps.ACTION], step.input.get(maps.COMPENSATION))
            continue
        if step.action == TASK_ACTION:
            tasks.check(step)
            continue
        if step.action == CHILD_ACTION:
            children.check(step)
            children.build(step.input, f"Child step {step.name!r}")
            continue
        _check_actions(step.name, step.action, step.compensation)


def _check_actions(name: str, action: str, compensation: str | None) -> None:
    if not registry.has(EXECUTE, action):
        raise UnknownActionError(
            f"Step {name!r}: no step handler is registered for action {action!r}"
            f" (registered: {', '.join(registry.actions(EXECUTE)) or 'none'})"
        )
    if compensation and not registry.has(COMPENSATE, compensation):
        raise UnknownActionError(
            f"Step {name!r}: no compensation handler is registered for "
            f"{compensation!r} (registered: "
            f"{', '.join(registry.actions(COMPENSATE)) or 'none'})"
        )
