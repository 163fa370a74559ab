"""A graph as Mermaid text, for documents, issues and chat.

A parallel stage is a subgraph, a status a class, the pivot a hexagon, and
the undoing dashed arrows back through the stages, numbered in order. Names
and actions are the caller's data: every character but letters, digits and
plain punctuation becomes an entity code.
"""

from __future__ import annotations

import itertools
import re

from ..models import StepStatus
from .graph import MAX_PARALLEL, MAX_STAGES, Graph, Node, Stage, is_undone
from .labels import clean, plural, status_label
from .palette import COLOURS, DASHED, MORE, PIVOT

#: Statuses drawn with a thicker border: the failures.
_THICK = (StepStatus.FAILED, StepStatus.COMPENSATION_FAILED)
_DASH = "stroke-dasharray:4 3"
_MERMAID_KEEP = re.compile(r"[A-Za-z0-9 _.,:/()\-]")


def _mermaid_text(text: str) -> str:
    """``text`` for a quoted Mermaid label: anything but letters, digits and plain
    punctuation as an entity code, so that no name can end the label or add markup."""
    return "".join(ch if _MERMAID_KEEP.fullmatch(ch) else f"#{ord(ch)};" for ch in clean(text))


def to_mermaid(
    graph: Graph,
    direction: str = "LR",
    max_stages: int = MAX_STAGES,
    max_parallel: int = MAX_PARALLEL,
) -> str:
    """The graph as a Mermaid flowchart: a parallel stage is a subgraph, a status a
    class, and the undoing dashed arrows back through the stages, numbered in order."""
    if direction not in ("LR", "TD"):
        raise ValueError(f"direction must be LR or TD, not {direction!r}")
    graph = graph.bounded(max_stages, max_parallel)
    lines = [f"flowchart {direction}", f"  %% {_mermaid_text(graph.title)}"]
    used: list[str] = []
    anchors: dict[int, str] = {}
    chain: list[str] = []
    if graph.before:
        lines.append(f'  before(["\u2026 {plural(graph.before, "earlier stage")}"]):::more')
        chain.append("before")
    for stage in graph.stages:
        nodes: list[str] = []
        body: list[str] = []
        for index, node in enumerate(stage.steps):
            ident = f"n{stage.number}_{index}"
            nodes.append(ident)
            css = node.status if node.status in COLOURS else ""
            css = css or "step"
            if css not in used:
                used.append(css)
            body.append(f"{ident}{_mermaid_node(graph, stage, node)}:::{css}")
            if node.pivot:
                body.append(f"class {ident} pivot")
        if stage.hidden:
            nodes.append(f"h{stage.number}")
            body.append(f'h{stage.number}["+ {plural(stage.hidden, "more step")}"]:::more')
        if len(nodes) > 1:
            size = len(stage.steps) + stage.hidden
            anchors[stage.number] = f"s{stage.number}"
            lines.append(
                f'  subgraph s{stage.number}["Stage {stage.number + 1}: {size} in parallel"]'
            )
            lines.append("    direction TB")
            lines.extend(f"    {line}" for line in body)
            lines.append("  end")
        else:
            anchors[stage.number] = nodes[0]
            lines.extend(f"  {line}" for line in body)
        chain.append(anchors[stage.number])
    if graph.after:
        lines.append(f'  after(["\u2026 {plural(graph.after, "more stage")}"]):::more')
        chain.append("after")
    lines.extend(f"  {a} --> {b}" for a, b in itertools.pairwise(chain))
    tail = _undo_tail(graph, anchors)
    for stage in graph.undo_order():
        if tail is not None:
            lines.append(f"  {tail} -.->|undo {stage.undo}| {anchors[stage.number]}")
        tail = anchors[stage.number]
    lines.extend(f"  classDef {name} {_status_style(name)}" for name in used)
    lines.append(f"  classDef pivot stroke:{PIVOT},stroke-width:3px")
    lines.append(f"  classDef more {_style(MORE, _DASH)}")
    return "\n".join(lines) + "\n"


def _status_style(css: str) -> str:
    """A status's class: its colours, dashed or thick as the status is; ``step`` for none."""
    status = "" if css == "step" else css
    extra = [_DASH] if status in DASHED else []
    if status in _THICK:
        extra.append("stroke-width:2px")
    return _style(COLOURS[status], *extra)


def _style(colours: tuple[str, str, str], *extra: str) -> str:
    fill, stroke, ink = colours
    return ",".join([f"fill:{fill}", f"stroke:{stroke}", f"color:{ink}", *extra])


def _mermaid_node(graph: Graph, stage: Stage, node: Node) -> str:
    """A step's shape and label: a hexagon for the pivot, a box for the others."""
    label = [_mermaid_text(node.name), _mermaid_text(node.action)]
    if node.compensation:
        number = f" #{stage.undo}" if is_undone(graph, stage, node) else ""
        label.append(f"undo{number}: {_mermaid_text(node.compensation)}")
    if node.pivot:
        label.append("pivot: point of no return")
    if graph.is_saga:
        label.append(_mermaid_text(status_label(node, short=False)))
    text = "<br/>".join(label)
    return f'{{{{"{text}"}}}}' if node.pivot else f'["{text}"]'


def _undo_tail(graph: Graph, anchors: dict[int, str]) -> str | None:
    """Where the first undo arrow starts: the stage that failed, if drawn."""
    if graph.origin is None:
        return None
    if graph.origin in anchors:
        return anchors[graph.origin]
    return (
        "after" if graph.after and graph.stages and graph.origin > graph.stages[-1].number else None
    )
