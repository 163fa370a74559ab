"""Where the SVG's boxes sit: columns left to right, each stage's boxes centred on one line.

Sizes are in pixels; text is cut to the characters that fit a box
(``NAME_CHARS``, ``TEXT_CHARS``), since the picture measures no font.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Graph, Stage
from .labels import plural

#: Margin, box width, gap between columns, gap between boxes, the stage headings'
#: height, and the width and height of a box saying how much is left out.
PAD, BOX_W, GAP, V_GAP, HEAD, MORE_W, MORE_H = 16, 184, 44, 10, 22, 132, 40
#: Characters of a name, and of an action, that fit a box's width.
NAME_CHARS, TEXT_CHARS = 22, 26


@dataclass
class Column:
    """What one column of the picture holds and where it sits."""

    x: int
    width: int
    stage: Stage | None = None
    #: For a column of stages left out: what it says.
    more: str = ""
    #: Each item's top and height: steps, then the "more steps" box.
    boxes: list[tuple[int, int]] = field(default_factory=list)

    @property
    def centre(self) -> int:
        return self.x + self.width // 2

    @property
    def bottom(self) -> int:
        top, height = self.boxes[-1]
        return top + height


def box_height(graph: Graph) -> int:
    """Three lines of text, and a fourth for a saga: the status."""
    return 74 if graph.is_saga else 58


def layout(graph: Graph) -> list[Column]:
    """Columns left to right, their boxes centred on one middle line."""
    columns: list[Column] = []
    x = PAD
    if graph.before:
        columns.append(Column(x, MORE_W, more=f"\u2026 {plural(graph.before, 'earlier stage')}"))
        x += MORE_W + GAP
    for stage in graph.stages:
        columns.append(Column(x, BOX_W, stage=stage))
        x += BOX_W + GAP
    if graph.after:
        columns.append(Column(x, MORE_W, more=f"\u2026 {plural(graph.after, 'more stage')}"))
    heights = [
        [box_height(graph)] * len(c.stage.steps) + ([MORE_H] if c.stage.hidden else [])
        if c.stage is not None
        else [MORE_H]
        for c in columns
    ]
    tallest = max((sum(h) + V_GAP * (len(h) - 1) for h in heights), default=0)
    for column, sizes in zip(columns, heights, strict=True):
        y = PAD + HEAD + (tallest - sum(sizes) - V_GAP * (len(sizes) - 1)) // 2
        for size in sizes:
            column.boxes.append((y, size))
            y += size + V_GAP
    return columns
