"""A graph as a standalone SVG document, drawn here and fit to embed in HTML.

The console shows it with no script, no font and no other fetch: the boxes
are laid out in code, their text is escaped (names and actions are the
caller's data) and cut to fit. Stages run left to right, a stage's steps
stacked, and the undo order is a lane of numbered circles under them.
"""

from __future__ import annotations

import html
import itertools
import re

from ..models import StepStatus
from .graph import MAX_PARALLEL, MAX_STAGES, Graph, Node, Stage, is_undone
from .labels import clean, plural, status_label
from .layout import BOX_W, GAP, HEAD, NAME_CHARS, PAD, TEXT_CHARS, Column, box_height, layout
from .palette import COLOURS, DASHED, MORE, PIVOT

_UNDO = "#7c3aed"
_EDGE = "#9ca3af"
_MONO = "ui-monospace, monospace"


def _attr(text: object) -> str:
    return html.escape(clean(str(text)), quote=True)


def _fit(text: str, chars: int) -> str:
    text = clean(text)
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"


def to_svg(
    graph: Graph,
    max_stages: int = MAX_STAGES,
    max_parallel: int = MAX_PARALLEL,
    ident: str = "saga-diagram",
) -> str:
    """The graph as a standalone SVG document (also fit to embed in HTML).

    Stages run left to right, a stage's steps stacked; each box shows the step's
    name, action, compensation and, for a saga, status and attempts, in its
    status's colour, the pivot with a thick orange border. Dashed arrows under
    the boxes, numbered, run back through the stages in the order they are undone.
    """
    graph = graph.bounded(max_stages, max_parallel)
    ident = re.sub(r"[^A-Za-z0-9_-]", "-", ident) or "saga-diagram"
    columns = layout(graph)
    top = PAD + HEAD
    body = max((c.bottom for c in columns), default=top) - top
    out: list[str] = []
    for left, right in itertools.pairwise(columns):
        out.extend(_forward(left, right, top + body // 2, ident))
    for column in columns:
        out.extend(_column(graph, column, top, body))
    lane = top + body + 30
    undo = _undo_lane(graph, columns, lane, ident)
    out.extend(undo)
    legend_y = (lane + 24 if undo else top + body + 20) + 8
    legend, legend_w = _legend(graph, legend_y, bool(undo))
    out.extend(legend)
    width = max(columns[-1].x + columns[-1].width + PAD if columns else 0, legend_w + 2 * PAD)
    height = legend_y + 12 + PAD
    title = _describe(graph)
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="saga-diagram" id="{ident}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{ident}-title" style="font-family: system-ui, sans-serif">',
        f'<title id="{ident}-title">{_attr(title)}</title>',
        "<defs>",
        _marker(f"{ident}-arrow", _EDGE),
        _marker(f"{ident}-undo", _UNDO),
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    return "\n".join([*head, *out, "</svg>"]) + "\n"


def _describe(graph: Graph) -> str:
    steps = sum(len(s.steps) + s.hidden for s in graph.stages)
    shape = f"{plural(graph.before + len(graph.stages) + graph.after, 'stage')}"
    state = f", {graph.state}" if graph.state else ""
    return f"{graph.title}: {shape}, {plural(steps, 'step')} drawn{state}"


def _marker(name: str, colour: str) -> str:
    return (
        f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    )


def _forward(left: Column, right: Column, middle: int, ident: str) -> list[str]:
    """Arrows from every box of a column to a joint, and from it to every box of the next."""
    joint_x = left.x + left.width + GAP // 2
    lines = [
        f'<path d="M{left.x + left.width},{top + h // 2} L{joint_x},{middle}" '
        f'stroke="{_EDGE}" stroke-width="1.5" fill="none"/>'
        for top, h in left.boxes
    ]
    lines += [
        f'<path d="M{joint_x},{middle} L{right.x - 2},{top + h // 2}" stroke="{_EDGE}" '
        f'stroke-width="1.5" fill="none" marker-end="url(#{ident}-arrow)"/>'
        for top, h in right.boxes
    ]
    return lines


def _column(graph: Graph, column: Column, top: int, body: int) -> list[str]:
    stage = column.stage
    if stage is None:
        return [_more_box(column, column.boxes[0], column.more)]
    size = len(stage.steps) + stage.hidden
    heading = f"Stage {stage.number + 1}" + (f" \u00b7 {size} in parallel" if size > 1 else "")
    out = [
        f'<g class="sg-stage" data-stage="{stage.number}">',
        f'<text x="{column.x}" y="{PAD + 12}" font-size="11" fill="#6b7280" '
        f'letter-spacing=".03em">{_attr(heading.upper())}</text>',
    ]
    if size > 1:
        out.append(
            f'<rect x="{column.x - 6}" y="{top - 6}" width="{column.width + 12}" '
            f'height="{body + 12}" rx="10" fill="none" stroke="#e5e7eb" stroke-dasharray="3 3"/>'
        )
    for node, (y, _) in zip(stage.steps, column.boxes, strict=False):
        out.extend(_box(graph, stage, node, column.x, y))
    if stage.hidden:
        out.append(_more_box(column, column.boxes[-1], f"+ {plural(stage.hidden, 'more step')}"))
    out.append("</g>")
    return out


def _more_box(column: Column, box: tuple[int, int], text: str) -> str:
    """A dashed box saying what is left out: stages, or steps of a stage."""
    (y, h), (fill, stroke, ink) = box, MORE
    return (
        f'<g class="sg-more"><rect x="{column.x}" y="{y}" width="{column.width}" '
        f'height="{h}" rx="8" fill="{fill}" stroke="{stroke}" stroke-dasharray="4 3"/>'
        f'<text x="{column.centre}" y="{y + h // 2 + 4}" text-anchor="middle" '
        f'font-size="12" fill="{ink}">{_attr(text)}</text></g>'
    )


def _box(graph: Graph, stage: Stage, node: Node, x: int, y: int) -> list[str]:
    fill, stroke, ink = COLOURS.get(node.status, COLOURS[""])
    undone = is_undone(graph, stage, node)
    tip = [f"{node.name}: {node.action}"]
    if node.compensation:
        tip.append(f"undo: {node.compensation}")
    if graph.is_saga:
        tip.append(status_label(node))
        if node.compensation_attempts:
            tip.append(f"{node.compensation_attempts} undo attempt(s)")
    if node.pivot:
        tip.append("pivot: the point of no return")
    border = (
        f'stroke="{PIVOT}" stroke-width="3"'
        if node.pivot
        else f'stroke="{stroke}" stroke-width="1.5"'
        + (' stroke-dasharray="5 3"' if node.status in DASHED else "")
    )
    out = [
        f'<g class="sg-step" data-step="{_attr(node.name)}" data-status="{_attr(node.status)}"'
        + (f' data-undo="{stage.undo}"' if undone else "")
        + (' data-pivot="true"' if node.pivot else "")
        + ">",
        f"<title>{_attr(' / '.join(tip))}</title>",
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{box_height(graph)}" rx="8" '
        f'fill="{fill}" {border}/>',
        f'<text x="{x + 10}" y="{y + 19}" font-size="13" font-weight="700" fill="{ink}">'
        f"{_attr(_fit(node.name, NAME_CHARS))}</text>",
        f'<text x="{x + 10}" y="{y + 35}" font-size="11" font-family="{_MONO}" fill="#374151">'
        f"{_attr(_fit(node.action, TEXT_CHARS))}</text>",
    ]
    if node.pivot:
        out.append(
            f'<rect x="{x + 8}" y="{y + 40}" width="38" height="14" rx="4" fill="#fff7ed" '
            f'stroke="{PIVOT}"/><text x="{x + 27}" y="{y + 50}" font-size="9" '
            f'font-weight="700" text-anchor="middle" fill="#9a3412">PIVOT</text>'
            f'<text x="{x + 52}" y="{y + 50}" font-size="11" fill="#9a3412">'
            "point of no return</text>"
        )
    if node.compensation:
        undo = f"\u21b6 {_fit(node.compensation, TEXT_CHARS - 2)}"
        out.append(
            f'<text x="{x + 10}" y="{y + 50}" font-size="11" font-family="{_MONO}" '
            f'fill="{_UNDO if undone else "#6b7280"}">{_attr(undo)}</text>'
        )
    elif not node.pivot:
        out.append(
            f'<text x="{x + 10}" y="{y + 50}" font-size="11" fill="#9ca3af">nothing to undo</text>'
        )
    if graph.is_saga:
        out.append(
            f'<text class="sg-status" x="{x + 10}" y="{y + 66}" font-size="11" '
            f'font-weight="600" fill="{ink}">{_attr(_fit(status_label(node), TEXT_CHARS + 4))}'
            "</text>"
        )
    out.append("</g>")
    if node.href:
        # A child step: its box opens the child saga's page.
        out = [f'<a href="{_attr(node.href)}">', *out, "</a>"]
    return out


def _undo_lane(graph: Graph, columns: list[Column], lane: int, ident: str) -> list[str]:
    """Numbered circles under the stages undone, joined by dashed arrows in their order."""
    order = graph.undo_order()
    if not order:
        return []
    by_stage = {c.stage.number: c for c in columns if c.stage is not None}
    dashed = f'stroke="{_UNDO}" stroke-width="1.5" stroke-dasharray="5 4" fill="none"'
    out = ['<g class="sg-undo">']
    tail: int | None = None
    if graph.origin is not None and graph.origin in by_stage:
        origin = by_stage[graph.origin]
        tail = origin.centre
        out.append(
            f'<path d="M{tail},{origin.bottom + 2} L{tail},{lane}" {dashed}/>'
            f'<circle cx="{tail}" cy="{lane}" r="4" fill="{_UNDO}"/>'
        )
    elif graph.origin is not None and graph.after and columns[-1].stage is None:
        tail = columns[-1].centre
    for stage in order:
        column = by_stage[stage.number]
        x = column.centre
        out.append(f'<path d="M{x},{column.bottom + 2} L{x},{lane - 11}" {dashed}/>')
        if tail is not None:
            out.append(
                f'<path class="sg-undo-arrow" data-undo="{stage.undo}" '
                f'd="M{tail - (11 if tail != x else 0)},{lane} L{x + 13},{lane}" {dashed} '
                f'marker-end="url(#{ident}-undo)"/>'
            )
        out.append(
            f'<g class="sg-undo-step" data-undo="{stage.undo}" data-stage="{stage.number}">'
            f'<circle cx="{x}" cy="{lane}" r="10" fill="#ffffff" stroke="{_UNDO}" '
            f'stroke-width="1.5"/><text x="{x}" y="{lane + 4}" font-size="11" font-weight="700" '
            f'text-anchor="middle" fill="{_UNDO}">{stage.undo}</text></g>'
        )
        tail = x
    out.append("</g>")
    return out


def _legend(graph: Graph, y: int, undo: bool) -> tuple[list[str], int]:
    """Swatches for what the picture uses: statuses, the pivot, the undo arrows."""
    items: list[tuple[str, str]] = []
    statuses = {node.status for stage in graph.stages for node in stage.steps}
    for status in StepStatus:
        if status.value in statuses:
            items.append((status.value, status.label))
    if any(node.pivot for stage in graph.stages for node in stage.steps):
        items.append(("pivot", "pivot: never undone once it completes"))
    if undo:
        what = "undo order (as it ran)" if graph.is_saga else "undo order (on a failure)"
        items.append(("undo", what))
    out = ['<g class="sg-legend">']
    x = PAD
    for kind, label in items:
        if kind == "undo":
            out.append(
                f'<path d="M{x + 22},{y} L{x},{y}" stroke="{_UNDO}" stroke-width="1.5" '
                f'stroke-dasharray="5 4"/>'
            )
            swatch = 26
        else:
            fill, stroke, _ = COLOURS.get(kind, ("#fff7ed", PIVOT, ""))
            out.append(
                f'<rect x="{x}" y="{y - 6}" width="12" height="12" rx="3" fill="{fill}" '
                f'stroke="{stroke}" stroke-width="{3 if kind == "pivot" else 1.5}"/>'
            )
            swatch = 16
        out.append(
            f'<text x="{x + swatch}" y="{y + 4}" font-size="11" fill="#374151">'
            f"{_attr(label)}</text>"
        )
        x += swatch + 7 * len(label) + 18
    out.append("</g>")
    return out, x - PAD
