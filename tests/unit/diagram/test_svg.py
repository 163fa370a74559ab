"""A saga's picture: the graph model, its Mermaid text and its SVG."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from django_saga import Step, parallel
from django_saga.diagram import (
    MAX_PARALLEL,
    definition_graph,
    saga_graph,
    to_mermaid,
    to_svg,
)
from django_saga.errors import SagaDefinitionError
from django_saga.models import SagaStep
from tests.factories import SagaFactory, SagaStepFactory
from tests.unit.diagram.examples import (
    HOSTILE,
    SVG,
    Broken,
    OrderSaga,
    compensated_saga,
    parse,
    steps_of,
)
from tests.unit.test_views import VIEW, logged_in, make_user


# -- the model and its Mermaid text --------------------------------------------
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


def test_a_step_list_is_drawn_like_a_definition():
    graph = definition_graph([Step("a", "x.a", "x.undo"), Step("b", "x.b")], title="plain")
    assert graph.title == "plain" and not graph.is_saga
    assert [s.undo for s in graph.stages] == [1, 0]
    assert graph.origin == 1
    with pytest.raises(SagaDefinitionError):
        definition_graph(Broken())


@pytest.mark.django_db
def test_a_step_undone_after_its_wait_failed_says_so():
    saga = SagaFactory(compensated=True, name="order_processing")
    history = [
        {"kind": "execute", "attempt": 1, "outcome": "waiting"},
        {"kind": "outside", "attempt": 1, "outcome": "failed", "error": "declined"},
        {"kind": "compensate", "attempt": 1, "outcome": "compensated"},
    ]
    SagaStepFactory(saga=saga, position=0, stage=0, name="reserve", status="compensated")
    SagaStepFactory(
        saga=saga,
        position=1,
        stage=1,
        name="pay",
        compensation="payment.void",
        status="compensated",
        attempts=1,
        history=history,
    )
    graph = saga_graph(saga)
    assert [s.undo for s in graph.stages] == [2, 1]  # the failed wait is undone first
    text = to_mermaid(graph)
    assert "undo #1: payment.void<br/>compensated after its wait failed, 1 attempt" in text
    statuses = [t.text for t in parse(to_svg(graph)).iter(f"{SVG}text")]
    assert "wait failed, compensated \u00b7 1\u00d7" in statuses
    # A step that completed, then was undone, is labelled as before.
    assert '"reserve<br/>test.record<br/>undo #2: test.undo<br/>compensated"' in text


@pytest.mark.django_db
def test_a_compensated_saga_shows_statuses_and_the_order_it_was_undone_in():
    saga = compensated_saga()
    graph = saga_graph(saga)
    assert graph.state == "compensated" and graph.origin == 4
    assert [(s.number, s.undo) for s in graph.undo_order()] == [(3, 1), (1, 2), (0, 3)]

    text = to_mermaid(graph)
    assert [line.strip() for line in text.splitlines() if "-.->" in line] == [
        "n4_0 -.->|undo 1| n3_0",
        "n3_0 -.->|undo 2| s1",
        "s1 -.->|undo 3| n0_0",
    ]
    for status in ("compensated", "failed", "skipped", "cancelled"):
        assert f"classDef {status} " in text
    assert 'n2_0["gift_wrap<br/>test.record<br/>skipped, 1 attempt"]:::skipped' in text

    root = parse(to_svg(graph))
    steps = steps_of(root)
    assert {name: g.get("data-status") for name, g in steps.items()} == {
        "create": "compensated",
        "reserve": "compensated",
        "check_address": "compensated",
        "gift_wrap": "skipped",
        "hold_money": "compensated",
        "charge": "failed",
        "ship": "cancelled",
    }
    # Numbered where a compensation ran; a step with nothing to undo has no number.
    undo = {name: g.get("data-undo") for name, g in steps.items() if g.get("data-undo")}
    assert undo == {"hold_money": "1", "reserve": "2", "create": "3"}
    circles = [
        (g.get("data-undo"), g.get("data-stage"), "".join(g.itertext()))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "sg-undo-step"
    ]
    assert circles == [("1", "3", "1"), ("2", "1", "2"), ("3", "0", "3")]
    arrows = [p for p in root.iter(f"{SVG}path") if p.get("class") == "sg-undo-arrow"]
    assert [a.get("data-undo") for a in arrows] == ["1", "2", "3"]
    assert all(a.get("stroke-dasharray") for a in arrows)
    # Each arrow runs right to left: from the failed stage back, stage by stage.
    ends = [tuple(map(int, re.findall(r"M(\d+),\d+ L(\d+)", a.get("d", ""))[0])) for a in arrows]
    assert all(start > end for start, end in ends)
    assert all(ends[i][1] > ends[i + 1][1] for i in range(len(ends) - 1))
    legend = "".join(
        next(g for g in root.iter(f"{SVG}g") if g.get("class") == "sg-legend").itertext()
    )
    assert "compensated" in legend and "skipped" in legend and "undo order (as it ran)" in legend


@pytest.mark.django_db
def test_step_names_are_escaped_in_both_renderers():
    saga = SagaFactory(failed=True, name=HOSTILE)
    SagaStepFactory(
        saga=saga, position=0, name=HOSTILE, action=HOSTILE, compensation=HOSTILE, completed=True
    )
    SagaStepFactory(saga=saga, position=1, name="b", failed=True)
    graph = saga_graph(saga)

    svg = to_svg(graph, ident='x" onload="alert(1)')
    root = parse(svg)  # well-formed: nothing in a name ends an element or an attribute
    assert "<script" not in svg and "<b>" not in svg and "\x01" not in svg
    assert 'onload="' not in svg
    assert not list(root.iter(f"{SVG}script"))
    names = list(steps_of(root))
    assert names[0].startswith("</text><script>alert(1)</script>\"&'<b>]]>\ufffd %% end")
    title = root.find(f"{SVG}title")
    assert title is not None and title.text and title.text.startswith("</text><script>")

    text = to_mermaid(graph)
    body = "\n".join(text.splitlines()[2:])
    # Quotes, brackets and markup become entity codes; the title comment stays one line.
    assert '"' not in body.replace('["', "").replace('"]', "").replace("|", "")
    assert "<script" not in text and "%% end" not in body
    assert "#60;/text#62;#60;script#62;alert(1)#60;/script#62;#34;" in body
    assert len(text.splitlines()[1].split("\n")) == 1


def test_a_huge_saga_is_drawn_at_a_bounded_size():
    steps = [parallel(*(Step(f"p{n}", "x.p") for n in range(50)))]
    steps += [Step(f"s{n}", "x.s", "x.undo") for n in range(3000)]
    graph = definition_graph(steps, title="huge")
    svg = to_svg(graph, max_stages=20)
    root = parse(svg)
    assert len(steps_of(root)) == MAX_PARALLEL + 19
    assert int(root.get("width", "0")) < 5000 and int(root.get("height", "0")) < 1000
    assert len(svg) < 100_000
    text = "".join(root.itertext())
    assert "+ 44 more steps" in text and "\u2026 2,981 more stages" in text
    mermaid = to_mermaid(graph, max_stages=20)
    assert len(mermaid.splitlines()) < 120
    assert 'after(["\u2026 2,981 more stages"]):::more' in mermaid


@pytest.mark.django_db
def test_a_page_of_a_saga_is_drawn_with_the_stages_before_and_after_counted():
    saga = SagaFactory(name="long")
    rows = [SagaStepFactory(saga=saga, position=n, stage=n if n < 5 else 5) for n in range(8)]
    graph = saga_graph(saga, rows[3:6])
    assert [s.number for s in graph.stages] == [3, 4, 5]
    assert (graph.before, graph.after) == (3, 0)
    assert graph.stages[-1].hidden == 2  # stage 5 has three steps, one on this page
    text = "".join(parse(to_svg(graph)).itertext())
    assert "\u2026 3 earlier stages" in text and "+ 2 more steps" in text


# -- the console's saga page ---------------------------------------------------
@pytest.mark.django_db
def test_the_saga_page_embeds_the_diagram_of_its_page_of_steps(django_user_model):
    from django_saga.console.pages import DIAGRAM_STAGES

    user = make_user(django_user_model, VIEW, name="viewer")
    client = logged_in(user)
    saga = compensated_saga()
    page = client.get(reverse("django_saga:detail", args=[saga.pk])).content.decode()
    assert '<h2 id="diagram-heading">Diagram</h2>' in page
    figure = page[page.index('<figure class="panel diagram"') : page.index("</figure>")]
    root = parse(figure[figure.index("<svg") : figure.index("</svg>") + len("</svg>")])
    assert steps_of(root)["charge"].get("data-status") == "failed"
    assert 'id="diagram-note"' not in page

    huge = SagaFactory(name="huge")
    SagaStep.objects.bulk_create(
        SagaStep(saga=huge, position=n, stage=n, name=f"s{n}", action="test.record")
        for n in range(250)
    )
    url = reverse("django_saga:detail", args=[huge.pk])
    second = client.get(url, {"steps": 2}).content.decode()
    svg = second[second.index("<svg") : second.index("</svg>") + len("</svg>")]
    drawn = list(steps_of(parse(svg)))
    assert drawn == [f"s{n}" for n in range(100, 100 + DIAGRAM_STAGES)]
    assert f"Stages 101\u2013{100 + DIAGRAM_STAGES} of 250" in second
    assert "\u2026 100 earlier stages" in svg and "\u2026 120 more stages" in svg
