"""Where the SVG's boxes sit: columns left to right, each stage centred on one line."""

from __future__ import annotations

from itertools import pairwise

from django_saga import Step, parallel
from django_saga.diagram import Graph, definition_graph
from django_saga.diagram.layout import BOX_W, GAP, MORE_W, PAD, box_height, layout


def test_stages_are_columns_left_to_right_their_steps_stacked_and_centred():
    graph = definition_graph(
        [Step("a", "x.a"), parallel(Step("b", "x.b"), Step("c", "x.c"), Step("d", "x.d"))]
    )
    single, stack = layout(graph)
    assert (single.x, stack.x) == (PAD, PAD + BOX_W + GAP)
    assert [h for _, h in stack.boxes] == [box_height(graph)] * 3
    # Stacked without overlap, and the lone box sits on the stack's middle line.
    assert all(top + h < below for (top, h), (below, _) in pairwise(stack.boxes))
    middle = (stack.boxes[0][0] + stack.bottom) // 2
    (top, h) = single.boxes[0]
    assert abs(top + h // 2 - middle) <= 1


def test_stages_left_out_are_a_column_each_side_saying_how_many():
    graph = Graph("page", definition_graph([Step("a", "x.a")]).stages, before=3, after=1)
    before, stage, after = layout(graph)
    assert (before.stage, before.more) == (None, "\u2026 3 earlier stages")
    assert (after.stage, after.more) == (None, "\u2026 1 more stage")
    assert stage.x == PAD + MORE_W + GAP and after.x == stage.x + BOX_W + GAP


def test_a_saga_s_boxes_have_a_line_more_than_a_definition_s_for_the_status():
    definition = definition_graph([Step("a", "x.a")])
    saga = Graph("saga", definition.stages, state="started")
    assert box_height(saga) > box_height(definition)
