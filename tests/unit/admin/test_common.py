"""What the admin's pages share: lists that never count a whole table, inlines
that show the first rows only, and a NUL character that names no row (PostgreSQL
would refuse to compare it) in a filter, a search, a page's id or a selection."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_saga import admin as saga_admin
from django_saga.console import paging
from django_saga.models import Intervention, OutboxMessage, Saga
from tests.unit.admin.helpers import CHANGELIST, change_url, halted_saga
from tests.unit.console.helpers import build_saga, logged_in


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


# -- a NUL character names no row ------------------------------------------------------
ADMIN_LISTS = [
    ("saga", {"name": "order\x00"}),
    ("saga", {"key": "\x00"}),
    ("saga", {"state__exact": "failed\x00"}),
    ("saga", {"error__icontains": "\x00"}),
    ("saga", {"definition": "\x00", "state__exact": "failed"}),
    ("intervention", {"action": "\x00"}),
    ("intervention", {"actor": "\x00"}),
    ("outboxmessage", {"kind": "\x00"}),
    ("apitoken", {"name": "\x00"}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "params"), ADMIN_LISTS)
def test_an_admin_list_filtered_by_a_nul_matches_nothing(root, model, params):
    saga = build_saga("failed", name="order")
    Intervention.objects.create(saga=saga, action="compensate", actor="al", reason="r")
    OutboxMessage.objects.create(saga=saga, kind="execute", body="{}", available_at=saga.created_at)
    response = logged_in(root).get(reverse(f"admin:django_saga_{model}_changelist"), params)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["saga", "intervention", "outboxmessage", "apitoken"])
def test_an_admin_search_for_a_nul_is_refused_in_djangos_words(root, model):
    build_saga("failed", name="order")
    response = logged_in(root).get(reverse(f"admin:django_saga_{model}_changelist"), {"q": "\x00"})
    assert response.status_code == 200
    assert "Null characters are not allowed." in [str(m) for m in response.context["messages"]]


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["saga", "intervention", "outboxmessage", "apitoken"])
@pytest.mark.parametrize("view", ["change", "history", "delete"])
@pytest.mark.parametrize("object_id", ["%00", "01AB%00"], ids=["nul", "id-nul"])
def test_an_admin_page_for_an_id_holding_a_nul_is_a_row_that_does_not_exist(
    root, model, view, object_id
):
    url = f"/admin/django_saga/{model}/{object_id}/{view}/"
    response = logged_in(root).get(url, follow=True)
    if model == "intervention" and view == "delete":
        assert response.status_code == 403  # the trail is never deleted, whatever the id
        return
    assert response.status_code == 200
    assert any("doesn\u2019t exist" in str(m) for m in response.context["messages"])


@pytest.mark.django_db
def test_an_admin_action_on_an_id_holding_a_nul_changes_nothing(root):
    failed = build_saga("failed")
    response = logged_in(root).post(
        reverse("admin:django_saga_saga_changelist"),
        {"action": "compensate_sagas", "_selected_action": [failed.pk, "\x00"], "index": 0},
        follow=True,
    )
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert "No row's id holds a NUL character: nothing was changed." in said
    assert Saga.objects.get(pk=failed.pk).state == "failed"
    assert not Intervention.objects.exists()
