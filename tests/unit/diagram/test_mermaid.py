"""A graph as Mermaid text: stages, the pivot, statuses, the undo arrows, escaping, bounds."""

from __future__ import annotations

import pytest

from django_saga.diagram import definition_graph, saga_graph, to_mermaid
from tests.unit.diagram.examples import (
    OrderSaga,
    compensated_saga,
    hostile_saga,
    huge_steps,
    wait_failed_saga,
)


def test_a_definition_is_drawn_as_mermaid_with_its_parallel_stage_and_pivot():
    text = to_mermaid(definition_graph(OrderSaga(order_id=7)))
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert lines[1] == "  %% order_processing"
    # The parallel stage is a subgraph whose steps stack; the others are plain nodes.
    assert '  subgraph s1["Stage 2: 2 in parallel"]' in lines
    assert "    direction TB" in lines
    assert any(line.startswith('    n1_1["validate_address<br/>') for line in lines)
    # The pivot is a hexagon with its own class.
    assert (
        '  n3_0{{"capture_payment<br/>payment.capture<br/>pivot: point of no return"}}:::step'
        in lines
    )
    assert "  class n3_0 pivot" in lines
    assert ["  n0_0 --> s1", "  s1 --> n2_0", "  n2_0 --> n3_0", "  n3_0 --> n4_0"] == [
        line for line in lines if " --> " in line
    ]
    # A failure of the pivot undoes the stages before it, last first.
    assert [line for line in lines if "-.->" in line] == [
        "  n3_0 -.->|undo 1| n2_0",
        "  n2_0 -.->|undo 2| s1",
        "  s1 -.->|undo 3| n0_0",
    ]
    assert "undo #2: inventory.release" in text
    assert "classDef pivot" in text and "classDef step" in text
    assert to_mermaid(definition_graph(OrderSaga(order_id=7)), "TD").startswith("flowchart TD\n")
    with pytest.raises(ValueError):
        to_mermaid(definition_graph(OrderSaga(order_id=7)), "RL")


@pytest.mark.django_db
def test_a_step_undone_after_its_wait_failed_says_so():
    text = to_mermaid(saga_graph(wait_failed_saga()))
    assert "undo #1: payment.void<br/>compensated after its wait failed, 1 attempt" in text
    # A step that completed, then was undone, is labelled as before.
    assert '"reserve<br/>test.record<br/>undo #2: test.undo<br/>compensated"' in text


@pytest.mark.django_db
def test_a_compensated_saga_shows_statuses_and_the_order_it_was_undone_in():
    text = to_mermaid(saga_graph(compensated_saga()))
    assert [line.strip() for line in text.splitlines() if "-.->" in line] == [
        "n4_0 -.->|undo 1| n3_0",
        "n3_0 -.->|undo 2| s1",
        "s1 -.->|undo 3| n0_0",
    ]
    for status in ("compensated", "failed", "skipped", "cancelled"):
        assert f"classDef {status} " in text
    assert 'n2_0["gift_wrap<br/>test.record<br/>skipped, 1 attempt"]:::skipped' in text


@pytest.mark.django_db
def test_step_names_are_escaped():
    text = to_mermaid(saga_graph(hostile_saga()))
    body = "\n".join(text.splitlines()[2:])
    # Quotes, brackets and markup become entity codes; the title comment stays one line.
    assert '"' not in body.replace('["', "").replace('"]', "").replace("|", "")
    assert "<script" not in text and "%% end" not in body
    assert "#60;/text#62;#60;script#62;alert(1)#60;/script#62;#34;" in body
    assert len(text.splitlines()[1].split("\n")) == 1


def test_a_huge_saga_is_drawn_at_a_bounded_size():
    mermaid = to_mermaid(definition_graph(huge_steps(), title="huge"), max_stages=20)
    assert len(mermaid.splitlines()) < 120
    assert 'after(["\u2026 2,981 more stages"]):::more' in mermaid
