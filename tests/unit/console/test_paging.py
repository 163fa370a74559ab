"""Keyset pages and bounded counts, on both databases; a cursor no page made is refused."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from django_saga.console import paging
from django_saga.console.paging import BadCursor, Tally, cursor_from, tally, window
from django_saga.models import Saga
from tests.factories import SagaFactory
from tests.unit.console.helpers import build_saga, logged_in

pytestmark = pytest.mark.django_db


def test_a_tally_says_how_sure_it_is():
    assert str(Tally(1234)) == "1,234"
    assert str(Tally(1_234_567, exact=False)) == "~1,230,000"
    assert str(Tally(10_000, exact=False, at_least=True)) == "10,000+"
    assert Tally(2) + Tally(3) == Tally(5)
    assert Tally(2) + Tally(9, exact=False) == Tally(11, exact=False)
    assert Tally(9, exact=False).as_json() == {"count": 9, "count_exact": False}


def test_counts_are_exact_up_to_the_cap_and_estimated_beyond(monkeypatch):
    for _ in range(6):
        SagaFactory(completed=True)
    monkeypatch.setattr(paging, "COUNT_CAP", 6)
    assert tally(Saga.objects.all()) == Tally(6)
    monkeypatch.setattr(paging, "COUNT_CAP", 4)
    beyond = tally(Saga.objects.all())
    assert beyond.exact is False
    if connection.vendor == "postgresql":
        # The planner's estimate, never below what was counted.
        assert beyond.value >= 5 and not beyond.at_least
    else:
        assert beyond == Tally(4, exact=False, at_least=True)


def test_pages_walk_newest_first_both_ways():
    ids = [SagaFactory().pk for _ in range(5)]
    newest_first = ids[::-1]
    queryset = Saga.objects.all()
    first = window(queryset, {}, 2)
    assert [s.pk for s in first.rows] == newest_first[:2] and first.newer is None
    second = window(queryset, {"before": first.older}, 2)
    assert [s.pk for s in second.rows] == newest_first[2:4]
    last = window(queryset, {"before": second.older}, 2)
    assert [s.pk for s in last.rows] == newest_first[4:] and last.older is None
    back = window(queryset, {"after": last.newer}, 2)
    assert [s.pk for s in back.rows] == newest_first[2:4]
    assert back.newer == newest_first[2] and back.older == newest_first[3]
    # Nothing newer than the newest saga any more: the newest page.
    assert [s.pk for s in window(queryset, {"after": ids[-1]}, 2).rows] == newest_first[:2]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"before": "x" * 27}, "'before' must be a saga id"),
        ({"after": "a\x00b"}, "'after' must be a saga id"),
        ({"before": "A", "after": "B"}, "not both"),
    ],
)
def test_a_cursor_no_page_made_is_refused_by_name(params, message):
    with pytest.raises(BadCursor, match=message):
        cursor_from(params)


@pytest.mark.parametrize("cursor", ["before", "after"])
@pytest.mark.parametrize("page", ["django_saga:dashboard", "django_saga:api-list"])
def test_a_nul_in_a_page_cursor_is_a_400_on_the_page_and_the_json_list(viewer, page, cursor):
    build_saga("failed")
    response = logged_in(viewer).get(reverse(page), {cursor: "01\x00"})
    assert response.status_code == 400
