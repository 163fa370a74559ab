"""The dashboard: counts by state, the sagas that need an operator, and every
saga, filtered and paged.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_saga.console.paging import Tally
from tests.unit.console.helpers import build_saga, logged_in


@pytest.mark.django_db
def test_dashboard_counts_sagas_by_state(operator):
    for state, n in (("completed", 3), ("failed", 2), ("compensated", 1)):
        for _ in range(n):
            build_saga(state)
    response = logged_in(operator).get(reverse("django_saga:dashboard"))
    counts = {row["state"]: row["count"].value for row in response.context["counts"]}
    assert all(row["count"].exact for row in response.context["counts"])
    assert counts == {
        "started": 0,
        "completed": 3,
        "failed": 2,
        "compensating": 0,
        "compensated": 1,
        "compensation_failed": 0,
        "halted": 0,
        "queued": 0,
    }
    assert response.context["total"] == Tally(6)
    html = response.content.decode()
    assert re.search(r'data-state="completed">\s*<div class="n">3</div>', html)


@pytest.mark.django_db
def test_dashboard_lists_sagas_waiting_for_an_operator_and_stuck_ones(operator, settings):
    settings.SAGA = {**settings.SAGA, "STALE_AFTER": 600}
    failed = build_saga("failed")
    broken = build_saga("compensation_failed")
    build_saga("completed")
    stuck = build_saga("started", updated_ago=timedelta(minutes=30))
    moving = build_saga("started", updated_ago=timedelta(minutes=1))
    context = logged_in(operator).get(reverse("django_saga:dashboard")).context
    assert {row.saga.pk for row in context["waiting"]} == {failed.pk, broken.pk}
    assert context["waiting_count"] == Tally(2)
    assert [row.saga.pk for row in context["stuck"]] == [stuck.pk]
    assert moving.pk not in {row.saga.pk for row in context["stuck"]}
    assert context["stale_after"] == "10 min"
    assert {row.saga.pk: row.since for row in context["stuck"]} == {stuck.pk: "30\xa0minutes ago"}
    assert {row.since for row in context["waiting"]} == {"just now"}


@pytest.mark.django_db
def test_dashboard_filters_by_state_name_and_search(operator):
    a = build_saga("failed", name="order")
    b = build_saga("completed", name="order")
    c = build_saga("completed", name="refund")
    client = logged_in(operator)

    def listed(**params: str) -> set[str]:
        response = client.get(reverse("django_saga:dashboard"), params)
        return {row.saga.pk for row in response.context["sagas"]}

    assert listed() == {a.pk, b.pk, c.pk}
    assert listed(state="completed") == {b.pk, c.pk}
    assert listed(name="order") == {a.pk, b.pk}
    assert listed(state="completed", name="order") == {b.pk}
    assert listed(q=c.pk) == {c.pk}
    assert listed(q=c.pk.lower()) == {c.pk}
    assert listed(q="fun") == {c.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["name", "key", "q"])
def test_the_dashboard_shows_a_nul_filter_as_an_error_and_matches_nothing(viewer, param):
    build_saga("failed", name="order")
    response = logged_in(viewer).get(reverse("django_saga:dashboard"), {param: "order\x00"})
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(r'<ul class="errorlist" id="filter-error"><li>(.*?)</li>', html)
    assert error is not None
    assert f"The filter &#x27;{param}&#x27; holds a NUL character" in error[1]
    assert response.context["sagas"] == []
    assert "No saga matches." in html
    # The rest of the page is there: the counts by state and what waits for an operator.
    assert [
        row["count"].value for row in response.context["counts"] if row["state"] == "failed"
    ] == [1]


@pytest.mark.django_db
def test_dashboard_pages_by_cursor_and_keeps_the_filters(operator, settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_PAGE_SIZE": 2}
    created = [build_saga("completed") for _ in range(5)]
    build_saga("failed")
    client = logged_in(operator)

    def page(**params: str):  # type: ignore[no-untyped-def]
        response = client.get(reverse("django_saga:dashboard"), {"state": "completed", **params})
        return [row.saga.pk for row in response.context["sagas"]], response

    newest, first = page()
    assert newest == [created[4].pk, created[3].pk]
    assert first.context["newer"] is None and first.context["older"] == created[3].pk
    html = first.content.decode()
    assert f'href="?state=completed&amp;before={created[3].pk}"' in html
    middle, second = page(before=created[3].pk)
    assert middle == [created[2].pk, created[1].pk]
    oldest, last = page(before=created[1].pk)
    # Newest first: the last page holds the oldest saga, and no link goes further.
    assert oldest == [created[0].pk]
    assert last.context["older"] is None and last.context["newer"] == created[0].pk
    back, _ = page(after=created[0].pk)
    assert back == middle
    assert second.context["newer"] == created[2].pk


@pytest.mark.django_db
def test_a_page_link_no_page_could_have_made_is_a_400(operator):
    client = logged_in(operator)
    url = reverse("django_saga:dashboard")
    assert client.get(url, {"before": "X" * 27}).status_code == 400
    assert client.get(url, {"before": "A", "after": "B"}).status_code == 400
    api = reverse("django_saga:api-list")
    refused = client.get(api, {"after": "X" * 27})
    assert refused.status_code == 400 and "'after'" in refused.json()["message"]
    assert "cursor" in client.get(api, {"page": "2"}).json()["message"]


@pytest.mark.django_db
def test_dashboard_shows_progress_and_uses_a_fixed_number_of_queries(operator):
    client = logged_in(operator)
    build_saga("failed")
    client.get(reverse("django_saga:dashboard"))  # warm the session and permission caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("django_saga:dashboard"))
        assert response.status_code == 200
        return len(captured)

    few = queries()
    for state in ("completed", "compensated", "started") * 4:
        build_saga(state)
    assert queries() == few
    html = client.get(reverse("django_saga:dashboard")).content.decode()
    assert "1/2 steps" in html and "2/2 steps" in html


@pytest.mark.django_db
def test_the_dashboard_links_the_redrive_page_for_those_who_may_use_it(repairer):
    html = logged_in(repairer).get(reverse("django_saga:dashboard")).content.decode()
    assert f'id="redrive-link" href="{reverse("django_saga:redrive")}"' in html


@pytest.mark.django_db
def test_the_console_search_box_finds_sagas_by_key(viewer, sagas):
    response = logged_in(viewer).get(reverse("django_saga:dashboard"), {"q": "order-123"})
    shown = [row.saga.pk for row in response.context["sagas"]]
    assert shown == [sagas["again"].pk, sagas["first"].pk]
