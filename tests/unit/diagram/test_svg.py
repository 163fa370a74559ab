"""A graph as SVG: well-formed, escaped, bounded, with statuses and the undo lane, and as the
console's saga page embeds it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from django_saga.diagram import MAX_PARALLEL, definition_graph, saga_graph, to_svg
from django_saga.models import SagaStep
from tests.factories import SagaFactory
from tests.unit.console.helpers import VIEW, logged_in, make_user
from tests.unit.diagram.examples import (
    SVG,
    compensated_saga,
    hostile_saga,
    huge_steps,
    long_saga,
    parse,
    steps_of,
    wait_failed_saga,
)


@pytest.mark.django_db
def test_a_step_undone_after_its_wait_failed_says_so():
    statuses = [t.text for t in parse(to_svg(saga_graph(wait_failed_saga()))).iter(f"{SVG}text")]
    assert "wait failed, compensated \u00b7 1\u00d7" in statuses


@pytest.mark.django_db
def test_a_compensated_saga_shows_statuses_and_the_order_it_was_undone_in():
    root = parse(to_svg(saga_graph(compensated_saga())))
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
def test_step_names_are_escaped():
    svg = to_svg(saga_graph(hostile_saga()), ident='x" onload="alert(1)')
    root = parse(svg)  # well-formed: nothing in a name ends an element or an attribute
    assert "<script" not in svg and "<b>" not in svg and "\x01" not in svg
    assert 'onload="' not in svg
    assert not list(root.iter(f"{SVG}script"))
    names = list(steps_of(root))
    assert names[0].startswith("</text><script>alert(1)</script>\"&'<b>]]>\ufffd %% end")
    title = root.find(f"{SVG}title")
    assert title is not None and title.text and title.text.startswith("</text><script>")


def test_a_huge_saga_is_drawn_at_a_bounded_size():
    svg = to_svg(definition_graph(huge_steps(), title="huge"), max_stages=20)
    root = parse(svg)
    assert len(steps_of(root)) == MAX_PARALLEL + 19
    assert int(root.get("width", "0")) < 5000 and int(root.get("height", "0")) < 1000
    assert len(svg) < 100_000
    text = "".join(root.itertext())
    assert "+ 44 more steps" in text and "\u2026 2,981 more stages" in text


@pytest.mark.django_db
def test_a_page_of_a_saga_is_drawn_with_the_stages_before_and_after_counted():
    saga, rows = long_saga()
    text = "".join(parse(to_svg(saga_graph(saga, rows[3:6]))).itertext())
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
