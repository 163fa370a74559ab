"""The diagram's model: a definition's or a step list's graph, and its undo order."""

from __future__ import annotations

import pytest

from django_saga import Step
from django_saga.diagram import definition_graph
from django_saga.errors import SagaDefinitionError
from tests.unit.diagram.examples import Broken


def test_a_step_list_is_drawn_like_a_definition():
    graph = definition_graph([Step("a", "x.a", "x.undo"), Step("b", "x.b")], title="plain")
    assert graph.title == "plain" and not graph.is_saga
    assert [s.undo for s in graph.stages] == [1, 0]
    assert graph.origin == 1
    with pytest.raises(SagaDefinitionError):
        definition_graph(Broken())


def test_a_map_is_one_box_undone_by_its_items_compensation_and_a_child_names_its_saga():
    from django_saga import child, each
    from tests.testapp.sagas import ShipParcel

    graph = definition_graph(
        [
            Step("a", "x.a", "x.undo"),
            each("m", "x.item", "x.release", over="a.items"),
            child("c", ShipParcel),
            Step("b", "x.b"),
        ]
    )
    nodes = [stage.steps[0] for stage in graph.stages]
    assert [(n.action, n.compensation) for n in nodes] == [
        ("x.a", "x.undo"),
        ("\u00d7 n x.item", "x.release"),
        ("saga ShipParcel", "saga.child"),
        ("x.b", ""),
    ]
    # The map's items are undone before the first step, the child before them.
    assert [s.undo for s in graph.stages] == [3, 2, 1, 0]
