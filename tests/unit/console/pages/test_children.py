"""Child sagas on the operators' pages: parent and children link both ways,
the list filters by parent, the diagram draws a map as "\u00d7 n" and a child as
a box linking to its saga, the JSON detail names the children, and
``saga show`` prints the tree."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from django_saga import Step, child, each, manager
from tests.testapp.sagas import ShipParcel
from tests.unit.console.helpers import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(kit):
    """An order that ships two parcels as child sagas, then one more as a
    child step whose label fails: the order compensates, and its children."""
    return kit.start(
        "order",
        [
            each("ship", ShipParcel, over="context.parcels"),
            child("last", ShipParcel(parcel={"label": "fail"})),
        ],
        {"parcels": ["a", "b"]},
    )


def _children(saga) -> dict[str, str]:
    """Each child's id, by the name of the parent's step that started it."""
    names = {s.pk: s.name for s in manager.get(saga.pk).steps}
    return {names[c.parent_step_id]: c.pk for c in manager.children(saga.pk)}


def test_the_kit_runs_a_parent_and_its_children_to_their_end(shipped):
    assert shipped.state == "compensated"
    children = manager.children(shipped.pk)
    assert sorted(c.state for c in children) == ["compensated"] * 3
    assert {s.name: s.status for s in shipped.steps if s.name != "ship"} == {
        "ship[0]": "compensated",
        "ship[1]": "compensated",
        "last": "failed",
    }


def test_the_parents_page_lists_its_children_and_links_each_child_step(operator, shipped):
    page = logged_in(operator).get(reverse("django_saga:detail", args=[shipped.pk]))
    html = page.content.decode()
    children = _children(shipped)
    table = html[html.index('id="children"') : html.index('id="trail-heading"')]
    for step, child_id in children.items():
        assert reverse("django_saga:detail", args=[child_id]) in table
        assert f"<code>{step}</code>" in table
    card = html[html.index('id="step-last"') :]
    assert f'child saga <a class="mono" href="/sagas/{children["last"]}/"' in card
    # The diagram: the map as "\u00d7 2", the child step's box a link to its saga.
    assert "\u00d7 2 saga ShipParcel" in html
    assert f'<a href="/sagas/{children["last"]}/">\n<g class="sg-step" data-step="last"' in html


def test_a_childs_page_links_its_parent_and_the_step_that_started_it(operator, shipped):
    child_id = _children(shipped)["ship[1]"]
    page = logged_in(operator).get(reverse("django_saga:detail", args=[child_id]))
    html = page.content.decode()
    parent = html[html.index('id="saga-parent"') :]
    assert parent.startswith(
        f'id="saga-parent"><a class="mono" href="/sagas/{shipped.pk}/">{shipped.pk}</a>, '
        "step <code>ship[1]</code>"
    )


def test_the_list_filters_by_parent(operator, shipped, kit):
    other = kit.start("order", [child("only", ShipParcel(parcel="z"))])
    client = logged_in(operator)
    html = client.get(reverse("django_saga:dashboard"), {"parent": shipped.pk}).content.decode()
    for child_id in _children(shipped).values():
        assert child_id in html
    (others,) = manager.children(other.pk)
    assert others.pk not in html
    assert f'name="parent" value="{shipped.pk}"' in html
    api = client.get(reverse("django_saga:api-list"), {"parent": other.pk})
    assert [s["saga_id"] for s in json.loads(api.content)["results"]] == [others.pk]


def test_the_json_detail_names_the_children_and_a_child_its_parent(operator, shipped):
    client = logged_in(operator)
    body = json.loads(client.get(reverse("django_saga:api-detail", args=[shipped.pk])).content)
    assert (body["parent_id"], body["depth"]) == (None, 0)
    children = _children(shipped)
    assert {c["saga_id"] for c in body["children"]} == set(children.values())
    steps = {s["id"]: s["name"] for s in body["steps"]}
    assert {steps[c["parent_step_id"]] for c in body["children"]} == {"ship[0]", "ship[1]", "last"}
    assert {c["state"] for c in body["children"]} == {"compensated"}
    child_body = json.loads(
        client.get(reverse("django_saga:api-detail", args=[children["last"]])).content
    )
    assert (child_body["parent_id"], child_body["depth"]) == (shipped.pk, 1)
    assert steps[child_body["parent_step_id"]] == "last"
    assert child_body["children"] == []


def test_saga_show_prints_the_tree_and_list_filters_by_parent(shipped):
    out = io.StringIO()
    call_command("saga", "show", shipped.pk, stdout=out)
    text = out.getvalue()
    children = _children(shipped)
    tree = text[text.index("Children") :].splitlines()[1:4]
    # Oldest first: the map's two children (made side by side), then the last.
    assert sorted(line.split() for line in tree[:2]) == [
        [step, "->", children[step], "ship_parcel", "(compensated)"]
        for step in ("ship[0]", "ship[1]")
    ]
    assert tree[2].split() == ["last", "->", children["last"], "ship_parcel", "(compensated)"]
    out = io.StringIO()
    call_command("saga", "show", children["last"], stdout=out)
    assert f"parent:   {shipped.pk} (its step" in out.getvalue()
    out = io.StringIO()
    call_command("saga", "list", "--parent", shipped.pk, "--json", stdout=out)
    listed = {json.loads(line)["saga_id"] for line in out.getvalue().splitlines()}
    assert listed == set(children.values())


def test_a_definitions_diagram_names_the_child_saga_and_the_map():
    from django_saga.diagram import definition_graph, to_mermaid

    graph = definition_graph(
        [each("ship", ShipParcel, over="context.parcels"), Step("pay", "test.record", "")]
    )
    text = to_mermaid(graph)
    # Mermaid escapes what is not a letter or a digit: "\u00d7" is #215;
    assert "ship<br/>#215; n saga ShipParcel" in text
