"""The saga list and a saga's page: bounded, read-only, deleted only once finished."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_saga.models import Saga
from tests.unit.admin.helpers import CHANGELIST, change_url, state_of
from tests.unit.console.helpers import COMPENSATE, build_saga, logged_in, make_user


# -- the list ---------------------------------------------------------------
@pytest.mark.django_db
def test_change_list_shows_state_progress_and_duration(viewer):
    failed = build_saga("failed")
    completed = build_saga("completed")
    assert completed.completed_at is not None
    Saga.objects.filter(pk=completed.pk).update(
        created_at=completed.completed_at - timedelta(seconds=75)
    )
    html = logged_in(viewer).get(CHANGELIST).content.decode()
    assert failed.pk in html
    assert ">failed</span>" in html and ">completed</span>" in html
    assert '<td class="field-progress">1/2 steps</td>' in html
    assert '<td class="field-progress">2/2 steps</td>' in html
    assert '<td class="field-duration">1 min 15 s</td>' in html


@pytest.mark.django_db
def test_change_list_filters_by_state_name_and_date_and_searches(viewer):
    order = build_saga("failed", name="order")
    refund = build_saga("completed", name="refund")
    client = logged_in(viewer)

    def listed(**params) -> set[str]:
        response = client.get(CHANGELIST, params)
        assert response.status_code == 200
        return {s.pk for s in response.context["cl"].result_list}

    assert listed(state__exact="failed") == {order.pk}
    assert listed(name="refund") == {refund.pk}
    assert listed(q=order.pk) == {order.pk}
    assert listed(q="refu") == {refund.pk}
    year = order.created_at.year
    assert listed(created_at__year=str(year)) == {order.pk, refund.pk}
    assert listed(created_at__year=str(year - 1)) == set()
    html = client.get(CHANGELIST).content.decode()
    assert "By state" in html and "By name" in html and "By created" in html


@pytest.mark.django_db
def test_change_list_queries_do_not_grow_with_the_number_of_sagas(operator):
    client = logged_in(operator)
    build_saga("failed")
    client.get(CHANGELIST)  # warm the session and permission caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(CHANGELIST).status_code == 200
        return len(captured)

    few = queries()
    for state in ("completed", "compensated", "started", "compensation_failed") * 5:
        build_saga(state)
    assert queries() == few


@pytest.mark.django_db
def test_the_admin_sorts_newest_first_only_and_counts_no_facets(viewer):
    older, newer = build_saga("failed"), build_saga("failed")
    client = logged_in(viewer)
    response = client.get(CHANGELIST, {"o": "2", "_facets": "True"})
    assert [s.pk for s in response.context["cl"].result_list] == [newer.pk, older.pk]
    assert response.context["cl"].add_facets is False


@pytest.mark.django_db
def test_the_admin_searches_and_shows_the_key(admin_client, sagas):
    listing = admin_client.get(reverse("admin:django_saga_saga_changelist"), {"q": "order-124"})
    assert [s.pk for s in listing.context["cl"].result_list] == [sagas["other"].pk]
    page = admin_client.get(
        reverse("admin:django_saga_saga_change", args=[sagas["other"].pk])
    ).content.decode()
    assert "order-124" in page


@pytest.mark.django_db
def test_staff_without_view_permission_cannot_open_the_list(django_user_model):
    user = make_user(django_user_model, COMPENSATE)
    assert logged_in(user).get(CHANGELIST).status_code == 403


# -- the saga page ------------------------------------------------------------
@pytest.mark.django_db
def test_state_cannot_be_changed_through_the_admin(operator, django_user_model):
    saga = build_saga("failed")
    superuser = django_user_model.objects.create_superuser("root", password="pw")
    for user in (operator, superuser):
        response = logged_in(user).post(change_url(saga), {"state": "completed", "name": "x"})
        assert response.status_code == 403
    assert state_of(saga) == "failed"


@pytest.mark.django_db
def test_running_sagas_cannot_be_deleted_and_there_is_no_bulk_delete(django_user_model):
    superuser = django_user_model.objects.create_superuser("root", password="pw")
    client = logged_in(superuser)
    running = build_saga("started")
    done = build_saga("completed")
    assert (
        client.get(reverse("admin:django_saga_saga_delete", args=[running.pk])).status_code == 403
    )
    assert client.get(reverse("admin:django_saga_saga_delete", args=[done.pk])).status_code == 200
    html = client.get(CHANGELIST).content.decode()
    assert 'value="delete_selected"' not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "deletable"),
    [
        ("started", False),
        ("compensating", False),
        ("failed", False),
        ("compensation_failed", False),
        ("completed", True),
        ("compensated", True),
    ],
)
def test_only_a_finished_saga_may_be_deleted_even_by_a_superuser(root, state, deletable):
    client = logged_in(root)
    saga = build_saga(state)
    url = reverse("admin:django_saga_saga_delete", args=[saga.pk])
    assert client.get(url).status_code == (200 if deletable else 403)
    client.post(url, {"post": "yes"})
    assert Saga.objects.filter(pk=saga.pk).exists() is not deletable
