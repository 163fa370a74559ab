"""A saga's page: its steps in order with their repair links, and its trail."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from django_saga import manager
from django_saga.admin import INLINE_STEPS
from django_saga.models import Intervention, SagaStep
from tests.factories import SagaFactory
from tests.unit.admin.helpers import change_url, halted_saga
from tests.unit.console.helpers import build_saga, logged_in


@pytest.mark.django_db
def test_saga_page_is_read_only_with_steps_in_order(viewer):
    saga = build_saga("failed", output={"tx": "t-1"})
    html = logged_in(viewer).get(change_url(saga)).content.decode()
    # No form field for the state, or anything else.
    assert 'name="state"' not in html
    assert 'type="submit" value="Save' not in html
    names = re.findall(r'<td class="field-name">\s*<p>(\w+)</p>', html)
    assert names == ["a", "b"]
    assert "ValueError: b refuses" in html
    assert "{\n  &quot;tx&quot;: &quot;t-1&quot;\n}" in html  # output as pretty JSON
    assert "execute #1: failed (12 ms) ValueError: b refuses" in html  # the attempt history


@pytest.mark.django_db
def test_step_data_is_escaped_in_the_admin(viewer):
    attack = "<script>alert(1)</script>"
    saga = build_saga("failed", output={"note": attack}, error=attack)
    SagaStep.objects.filter(saga=saga, name="b").update(error=attack)
    html = logged_in(viewer).get(change_url(saga)).content.decode()
    assert attack not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.django_db
def test_saga_page_marks_the_pivot_and_links_the_failed_step_to_the_console(viewer):
    saga = halted_saga()
    html = logged_in(viewer).get(change_url(saga)).content.decode()
    pivots = re.findall(r'<td class="field-pivot">\s*<p>(.*?)</p>', html, re.S)
    assert ['alt="True"' in cell for cell in pivots] == [False, True, False]
    console = reverse("django_saga:detail", args=[saga.pk])
    # Only the failed step offers a repair: retry or skip, with an input or output.
    assert html.count(f'href="{console}#step-') == 1
    assert f'<a href="{console}#step-ship">Retry or skip in the console</a>' in html


@pytest.mark.django_db
def test_saga_page_lists_the_trail_newest_first_escaped(viewer):
    saga = halted_saga()
    manager.retry_step(saga.pk, "ship", {"address": "new"}, by="alice", reason="address fixed")
    Intervention.objects.create(
        saga=saga, action="skip_step", step="ship", actor="bob", reason="<b>shipped</b>"
    )
    html = logged_in(viewer).get(change_url(saga)).content.decode()
    actors = re.findall(r'<td class="field-actor">\s*<p>(\w+)</p>', html)
    assert actors == ["bob", "alice"]
    assert re.findall(r'<td class="field-action_label">\s*<p>([\w ]+)</p>', html) == [
        "skip step",
        "retry step",
    ]
    assert "address fixed" in html
    assert "&lt;b&gt;shipped&lt;/b&gt;" in html and "<b>shipped</b>" not in html


@pytest.mark.django_db
def test_the_change_page_of_a_10000_step_saga_lists_the_first_steps_and_links_on(root):
    saga = SagaFactory(name="huge")
    SagaStep.objects.bulk_create(
        SagaStep(saga=saga, position=n, stage=n, name=f"s{n}", action="test.record")
        for n in range(10_000)
    )
    response = logged_in(root).get(reverse("admin:django_saga_saga_change", args=[saga.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    rows = re.findall(r'id="step_set-(\d+)"', html)
    assert len(rows) == INLINE_STEPS == 50
    assert "s49" in html and "s50<" not in html
    assert f"The steps below are the first {INLINE_STEPS}" in html
    assert reverse("django_saga:detail", args=[saga.pk]) in html
    assert "0/10000" in html or "0 / 10000" in html or "0 of 10000" in html
