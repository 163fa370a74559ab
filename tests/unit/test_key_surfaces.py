"""A saga's business key where operators look: the JSON API, the admin and
``manage.py saga`` find by it and show it.

The console's pages' tests of the key moved beside the pages
(``tests/unit/console/pages``); these stay for the moves of the JSON API's,
the admin's and the command's tests.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from django_saga.models import Saga
from tests.unit.console.helpers import VIEW, build_saga, logged_in, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")


@pytest.fixture
def sagas() -> dict[str, Saga]:
    """Two sagas of one order (the first compensated), and one of another."""
    first = build_saga("compensated", name="order")
    again = build_saga("started", name="order")
    other = build_saga("started", name="order")
    Saga.objects.filter(pk__in=[first.pk, again.pk]).update(key="order-123")
    Saga.objects.filter(pk=other.pk).update(key="order-124")
    return {"first": first, "again": again, "other": other}


def test_the_json_list_filters_by_key(viewer, sagas):
    body = logged_in(viewer).get(reverse("django_saga:api-list"), {"key": "order-124"}).json()
    assert [(r["saga_id"], r["key"]) for r in body["results"]] == [(sagas["other"].pk, "order-124")]
    assert body["count"] == 1


def test_the_admin_searches_and_shows_the_key(admin_client, sagas):
    listing = admin_client.get(reverse("admin:django_saga_saga_changelist"), {"q": "order-124"})
    assert [s.pk for s in listing.context["cl"].result_list] == [sagas["other"].pk]
    page = admin_client.get(
        reverse("admin:django_saga_saga_change", args=[sagas["other"].pk])
    ).content.decode()
    assert "order-124" in page


def test_the_command_lists_by_key_and_shows_it(sagas):
    out = StringIO()
    call_command("saga", "list", "--key", "order-123", "--json", stdout=out)
    listed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(s["id"], s["key"]) for s in listed] == [
        (sagas["again"].pk, "order-123"),
        (sagas["first"].pk, "order-123"),
    ]
    out = StringIO()
    call_command("saga", "show", sagas["other"].pk, stdout=out)
    assert "  key:      order-124" in out.getvalue().splitlines()
