"""The picture's model: a saga or a definition as stages of steps, and their undo order.

A :class:`Graph` is what both renderers draw. :func:`definition_graph` builds
one from a definition or a step list (what would run); a saga's graph (what
ran) is read from the database in :mod:`django_saga.diagram.queries`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..models import CHILD_ACTION, MAP_ACTION, StepStatus
from ..steps import BaseDefinition, Declared, StagedStep, Step, normalise_steps

#: Stages a picture draws unless told otherwise; the rest are counted.
MAX_STAGES = 30
#: Steps of one parallel stage a picture draws unless told otherwise.
MAX_PARALLEL = 6
#: Statuses that mean a step's compensation was sent, ran or failed.
UNDONE = (StepStatus.COMPENSATING, StepStatus.COMPENSATED, StepStatus.COMPENSATION_FAILED)


@dataclass(frozen=True)
class Node:
    """One step: what it calls, what undoes it, and for a saga how it went."""

    name: str
    action: str
    compensation: str = ""
    pivot: bool = False
    #: The step's status in a saga; "" in a definition's picture.
    status: str = ""
    attempts: int = 0
    compensation_attempts: int = 0
    #: Undone although it never completed: it returned ``Pending`` and its
    #: wait ended otherwise (timed out, failed from outside, cut short).
    wait_undone: bool = False
    #: A child step's saga, once started: its picture is a link away.
    child: str = ""
    #: Where the box links to (``Graph.linked``): the child saga's page.
    href: str = ""


@dataclass(frozen=True)
class Stage:
    """Steps that run together; ``number`` counts from 0 in the whole saga."""

    number: int
    steps: tuple[Node, ...]
    #: Steps of the stage left out of the picture (another page, or past the limit).
    hidden: int = 0
    #: Its place in the undo order (1 is undone first); 0 if it is not undone.
    undo: int = 0


@dataclass(frozen=True)
class Graph:
    """A saga or a definition as stages in order, and the order they are undone in."""

    title: str
    stages: tuple[Stage, ...]
    #: The saga's state; "" for a definition.
    state: str = ""
    #: Stages before the first one drawn (a later page of a saga's steps).
    before: int = 0
    #: Stages after the last one drawn.
    after: int = 0
    #: The stage whose failure started the undoing, if the picture knows it.
    origin: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def is_saga(self) -> bool:
        return bool(self.state)

    def undo_order(self) -> list[Stage]:
        """The drawn stages that are undone, in the order they are (or would be)."""
        return sorted((s for s in self.stages if s.undo), key=lambda s: s.undo)

    def bounded(self, max_stages: int = MAX_STAGES, max_parallel: int = MAX_PARALLEL) -> Graph:
        """The graph cut to ``max_stages`` stages of ``max_parallel`` steps at most."""
        max_stages, max_parallel = max(1, max_stages), max(1, max_parallel)
        kept = self.stages[:max_stages]
        stages = tuple(
            replace(s, steps=s.steps[:max_parallel], hidden=s.hidden + len(s.steps[max_parallel:]))
            if len(s.steps) > max_parallel
            else s
            for s in kept
        )
        return replace(self, stages=stages, after=self.after + len(self.stages) - len(kept))


def linked(graph: Graph, url_of: Callable[[str], str]) -> Graph:
    """The graph with each child step's box linking to ``url_of(child id)``."""
    stages = tuple(
        replace(
            stage,
            steps=tuple(
                replace(node, href=url_of(node.child)) if node.child else node
                for node in stage.steps
            ),
        )
        for stage in graph.stages
    )
    return replace(graph, stages=stages)


def is_undone(graph: Graph, stage: Stage, node: Node) -> bool:
    """Whether ``node`` is (or would be) undone as its stage's turn comes."""
    if not stage.undo or not node.compensation:
        return False
    return not graph.is_saga or node.status in UNDONE


def definition_graph(definition: BaseDefinition | Iterable[Declared], title: str = "") -> Graph:
    """The picture of what a definition (or a step list) would run: the undo order is the
    one a failure would follow, last stage with a compensation first."""
    if isinstance(definition, BaseDefinition):
        title = title or definition.saga_name()
        staged = normalise_steps(definition.steps())
    else:
        staged = normalise_steps(definition)
    grouped = _group(staged)
    undoable = sorted(
        (n for n, steps in grouped.items() if any(_undone_by(s.step) for s in steps)),
        reverse=True,
    )
    order = {stage: place for place, stage in enumerate(undoable, 1)}
    stages = tuple(
        Stage(
            number,
            tuple(
                Node(
                    s.step.name,
                    shown_action(s.step.action, s.step.input),
                    _undone_by(s.step),
                    s.step.pivot,
                )
                for s in grouped[number]
            ),
            undo=order.get(number, 0),
        )
        for number in sorted(grouped)
    )
    # A failure in the stage after the last undoable one is what undoes it first.
    origin = undoable[0] + 1 if undoable and undoable[0] + 1 in grouped else None
    return Graph(title or "saga", stages, origin=origin)


def shown_action(action: str, data: Mapping[str, Any], items: int | None = None) -> str:
    """What a box says a step calls: its action, but for a map "\u00d7 n" and what
    each item calls (``items``: how many, once known), and for a child step
    the saga it starts."""
    if action == MAP_ACTION:
        inner = shown_action(str(data.get("action", "")), data.get("input") or {})
        return f"\u00d7 {'n' if items is None else f'{items:,}'} {inner}"
    if action == CHILD_ACTION:
        return f"saga {str(data.get('definition', '')).rsplit('.', 1)[-1]}"
    return action


def shown_compensation(action: str, compensation: str, data: Mapping[str, Any]) -> str:
    """What undoes a step: its compensation, or for a map its items' one."""
    if action == MAP_ACTION:
        return str(data.get("compensation") or "")
    return compensation


def _undone_by(step: Step) -> str:
    return shown_compensation(step.action, step.compensation, step.input)


def _group(staged: list[StagedStep]) -> dict[int, list[StagedStep]]:
    grouped: dict[int, list[StagedStep]] = {}
    for item in staged:
        grouped.setdefault(item.stage, []).append(item)
    return grouped
