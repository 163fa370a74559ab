"""What the admin's pages share: lists that never count a whole table, inlines
that show the first rows only."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_saga import admin as saga_admin
from django_saga.console import paging
from django_saga.models import Intervention
from tests.unit.admin.helpers import CHANGELIST, change_url, halted_saga
from tests.unit.test_views import build_saga, logged_in


@pytest.mark.django_db
def test_a_list_beyond_the_count_cap_is_never_counted_whole(viewer, monkeypatch):
    """Above COUNT_CAP rows the admin shows an estimate (PostgreSQL) or a lower bound,
    offers only the pages within the cap, and runs no COUNT over the whole table."""
    monkeypatch.setattr(paging, "COUNT_CAP", 3)
    sagas = [build_saga("completed") for _ in range(5)]
    client = logged_in(viewer)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST, {"state__exact": "completed"})
    cl = response.context["cl"]
    assert cl.paginator.tally.exact is False and cl.paginator.num_pages == 1
    # The newest first, all five on the page (50 a page), with their progress.
    assert [s.pk for s in cl.result_list] == [s.pk for s in reversed(sagas)]
    assert all(s.steps_total == 2 for s in cl.result_list)
    html = response.content.decode()
    if connection.vendor == "postgresql":
        assert re.search(r'<span title="estimated">~\d+</span> sagas', html)
    else:
        assert '<span title="at least">3+</span> sagas' in html
    counts = [
        q["sql"] for q in captured if "COUNT(" in q["sql"] and 'FROM "django_saga_saga"' in q["sql"]
    ]
    assert counts and all("LIMIT 4" in sql for sql in counts), counts


@pytest.mark.django_db
def test_the_trail_inline_is_bounded(viewer, monkeypatch):
    saga = halted_saga()
    for n in range(3):
        Intervention.objects.create(saga=saga, action="compensate", actor=f"op{n}")
    monkeypatch.setattr(saga_admin.LatestTrailFormSet, "limit", 2)
    html = logged_in(viewer).get(change_url(saga)).content.decode()
    assert re.findall(r'<td class="field-actor">\s*<p>(\w+)</p>', html) == ["op2", "op1"]
