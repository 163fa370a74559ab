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
