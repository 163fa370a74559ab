"""A saga with a map stage on the operators' pages: its page and diagram,
its JSON detail and ``saga show`` all name the map and each of its items."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from django_saga import Step, each
from tests.unit.console.helpers import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def mapped(kit):
    return kit.start(
        "order",
        [
            each("reserve", "test.item", "test.undo", over="context.lines", tolerate=1),
            Step("charge", "test.record", ""),
        ],
        {"lines": ["apple", {"fail": True}]},
    )


def test_the_saga_page_and_its_diagram_show_the_map_and_its_items(operator, mapped):
    response = logged_in(operator).get(reverse("django_saga:detail", args=[mapped.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    # Anchors are slugs of the steps' names.
    for anchor in ("reserve", "reserve0", "reserve1", "charge"):
        assert f'id="step-{anchor}"' in html
    assert "reserve[1]" in html
    assert "item 1 refuses" in html
    # The map's card counts its items by status; each item says whose it is.
    card = html[html.index('id="step-reserve"') : html.index('id="step-charge"')]
    assert re.search(r"2 items:\s*<span>1 completed</span>\s*<span>1 failed</span>", card)
    assert '<span class="pos">#1.2</span>' in html


def test_the_json_detail_lists_the_items_as_steps(operator, mapped):
    response = logged_in(operator).get(reverse("django_saga:api-detail", args=[mapped.pk]))
    assert response.status_code == 200
    steps = {s["name"]: s for s in json.loads(response.content)["steps"]}
    assert steps["reserve"]["status"] == "completed"
    assert steps["reserve[0]"]["status"] == "completed"
    assert steps["reserve[1]"]["status"] == "failed"


def test_saga_show_prints_the_items(mapped):
    out = io.StringIO()
    call_command("saga", "show", mapped.pk, stdout=out)
    text = out.getvalue()
    assert "reserve[0]" in text and "reserve[1]" in text
    # Items are counted within their map: the second item of the first step.
    assert re.search(r"^\s*1\.2\s+1\s+reserve\[1\]\s+failed", text, re.MULTILINE)
