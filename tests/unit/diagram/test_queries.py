"""A saga's graph read from the database: its stages, its state and the undo order."""

from __future__ import annotations

import pytest

from django_saga.diagram import saga_graph
from tests.unit.diagram.examples import compensated_saga, long_saga, wait_failed_saga

pytestmark = pytest.mark.django_db


def test_a_step_undone_after_its_wait_failed_is_undone_first():
    graph = saga_graph(wait_failed_saga())
    assert [s.undo for s in graph.stages] == [2, 1]  # the failed wait is undone first
    assert [node.wait_undone for stage in graph.stages for node in stage.steps] == [False, True]


def test_a_compensated_saga_gives_its_state_and_the_order_it_was_undone_in():
    graph = saga_graph(compensated_saga())
    assert graph.state == "compensated" and graph.origin == 4
    assert [(s.number, s.undo) for s in graph.undo_order()] == [(3, 1), (1, 2), (0, 3)]


def test_a_page_of_a_saga_counts_the_stages_before_and_after_it():
    saga, rows = long_saga()
    graph = saga_graph(saga, rows[3:6])
    assert [s.number for s in graph.stages] == [3, 4, 5]
    assert (graph.before, graph.after) == (3, 0)
    assert graph.stages[-1].hidden == 2  # stage 5 has three steps, one on this page
