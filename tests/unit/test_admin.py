"""The saga admin: list, read-only detail, and the compensation actions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_saga import Step, manager
from django_saga.console import paging
from django_saga.models import OutboxMessage, Saga, SagaStep
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.test_views import COMPENSATE, RETRY, VIEW, build_saga, logged_in, make_user

CHANGELIST = reverse("admin:django_saga_saga_changelist")


def change_url(saga: Saga) -> str:
    return reverse("admin:django_saga_saga_change", args=[saga.pk])


def state_of(saga: Saga) -> str:
    return Saga.objects.get(pk=saga.pk).state


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, VIEW, COMPENSATE, RETRY, name="operator")


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")


def run_action(client, action: str, *sagas: Saga):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [s.pk for s in sagas], "index": 0},
        follow=True,
    )


def shown_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


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
def test_the_admin_sorts_newest_first_only_and_counts_no_facets(viewer):
    older, newer = build_saga("failed"), build_saga("failed")
    client = logged_in(viewer)
    response = client.get(CHANGELIST, {"o": "2", "_facets": "True"})
    assert [s.pk for s in response.context["cl"].result_list] == [newer.pk, older.pk]
    assert response.context["cl"].add_facets is False


@pytest.mark.django_db
def test_the_outbox_list_filters_by_kind_newest_first(admin_client):
    saga = build_saga("failed")
    now = saga.created_at
    first = OutboxMessage.objects.create(saga=saga, kind="execute", body="{}", available_at=now)
    second = OutboxMessage.objects.create(saga=saga, kind="compensate", body="{}", available_at=now)
    url = reverse("admin:django_saga_outboxmessage_changelist")
    everything = admin_client.get(url).context["cl"]
    assert [m.pk for m in everything.result_list] == [second.pk, first.pk]
    assert everything.paginator.tally.exact
    undo = admin_client.get(url, {"kind": "compensate"}).context["cl"]
    assert [m.pk for m in undo.result_list] == [second.pk]


# -- the saga page ------------------------------------------------------------
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
def test_state_cannot_be_changed_through_the_admin(operator, django_user_model):
    saga = build_saga("failed")
    superuser = django_user_model.objects.create_superuser("root", password="pw")
    for user in (operator, superuser):
        response = logged_in(user).post(change_url(saga), {"state": "completed", "name": "x"})
        assert response.status_code == 403
    assert state_of(saga) == "failed"


@pytest.mark.django_db
def test_step_data_is_escaped_in_the_admin(viewer):
    attack = "<script>alert(1)</script>"
    saga = build_saga("failed", output={"note": attack}, error=attack)
    SagaStep.objects.filter(saga=saga, name="b").update(error=attack)
    html = logged_in(viewer).get(change_url(saga)).content.decode()
    assert attack not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


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


# -- actions ------------------------------------------------------------------
@pytest.mark.django_db
def test_compensate_action_goes_through_the_manager_and_names_each_refusal(operator):
    failed = build_saga("failed")
    completed = build_saga("completed")
    compensated = build_saga("compensated")
    broken = build_saga("compensation_failed")
    response = run_action(
        logged_in(operator), "compensate_sagas", failed, completed, compensated, broken
    )
    assert state_of(failed) == "compensating"
    assert state_of(completed) == "compensating"
    assert state_of(compensated) == "compensated"
    assert state_of(broken) == "compensation_failed"
    # The manager wrote each compensation's first message to the outbox.
    assert (
        OutboxMessage.objects.filter(saga__in=[failed, completed], kind="compensate").count() == 2
    )
    assert not OutboxMessage.objects.filter(saga__in=[compensated, broken]).exists()
    assert sorted(shown_messages(response)) == sorted(
        [
            f"Saga {compensated.pk} is already compensated.",
            f"Saga {broken.pk} has a compensation that failed: retry the compensation instead.",
            "Compensation requested for 2 sagas.",
        ]
    )


@pytest.mark.django_db
def test_retry_action_resumes_only_failed_compensations(operator):
    broken = build_saga("compensation_failed")
    failed = build_saga("failed")
    response = run_action(logged_in(operator), "retry_saga_compensations", broken, failed)
    assert state_of(broken) == "compensating"
    assert state_of(failed) == "failed"
    messages = shown_messages(response)
    assert "Compensation resumed for 1 saga." in messages
    assert any(m.startswith(f"Saga {failed.pk} is failed; only a saga whose") for m in messages)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("perms", "action"),
    [
        ((VIEW,), "compensate_sagas"),
        ((VIEW, COMPENSATE), "retry_saga_compensations"),
        ((VIEW, RETRY), "compensate_sagas"),
    ],
)
def test_actions_need_their_own_permission(django_user_model, perms, action):
    user = make_user(django_user_model, *perms)
    client = logged_in(user)
    saga = build_saga("compensation_failed" if action.startswith("retry") else "failed")
    before = state_of(saga)
    assert f'value="{action}"' not in client.get(CHANGELIST).content.decode()
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [saga.pk]})
    assert response.status_code == 403
    assert state_of(saga) == before


@pytest.mark.django_db
def test_the_actions_are_offered_to_users_holding_the_permissions(operator):
    build_saga("failed")  # the admin shows actions only when the list has rows
    html = logged_in(operator).get(CHANGELIST).content.decode()
    assert 'value="compensate_sagas"' in html
    assert 'value="retry_saga_compensations"' in html


@pytest.mark.django_db
def test_staff_without_view_permission_cannot_open_the_list(django_user_model):
    user = make_user(django_user_model, COMPENSATE)
    assert logged_in(user).get(CHANGELIST).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_compensate_action_brings_a_failed_saga_to_compensated(operator, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    run_engine()
    saga = manager.start(
        "order", [Step("a", "test.record", "test.undo"), Step("b", "test.fail", "")]
    )
    assert wait_terminal(saga.id).state == "failed"
    run_action(logged_in(operator), "compensate_sagas", saga)
    assert wait_terminal(saga.id).state == "compensated"
    assert Ledger.objects.filter(action="undo:a").count() == 1
