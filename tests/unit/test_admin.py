"""The saga admin: list, read-only detail with the trail, the operator actions, the trail's list."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_saga import Step, manager
from django_saga import admin as saga_admin
from django_saga.console import paging
from django_saga.models import Intervention, OutboxMessage, Saga, SagaStep
from tests import factories
from tests.factories import SagaFactory, SagaStepFactory
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.test_views import COMPENSATE, RETRY, VIEW, build_saga, logged_in, make_user

CHANGELIST = reverse("admin:django_saga_saga_changelist")
TRAIL = reverse("admin:django_saga_intervention_changelist")
RETRY_STEP = "django_saga.retry_saga_step"
REDRIVE = "django_saga.redrive_sagas"
CONFIRMATION = "admin/django_saga/saga/action_confirmation.html"


def change_url(saga: Saga) -> str:
    return reverse("admin:django_saga_saga_change", args=[saga.pk])


def state_of(saga: Saga) -> str:
    return Saga.objects.get(pk=saga.pk).state


@pytest.fixture
def operator(django_user_model):
    return make_user(
        django_user_model, VIEW, COMPENSATE, RETRY, RETRY_STEP, REDRIVE, name="operator"
    )


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")


def choose_action(client, action: str, *sagas: Saga):
    """Pick the action in the list's menu: the admin answers with its confirmation page."""
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [s.pk for s in sagas], "index": 0}
    )


def confirm_action(client, action: str, *sagas: Saga, **fields):
    """Post the confirmation page back, as its "Yes" button does."""
    data = {"action": action, "_selected_action": [s.pk for s in sagas], "post": "yes", **fields}
    return client.post(CHANGELIST, data, follow=True)


def run_action(client, action: str, *sagas: Saga, reason: str = "the service is back", **fields):
    page = choose_action(client, action, *sagas)
    assert page.status_code == 200
    assert CONFIRMATION in [t.name for t in page.templates]
    return confirm_action(client, action, *sagas, reason=reason, **fields)


def halted_saga(name: str = "order") -> Saga:
    return factories.halted_saga(name, input={"address": "old"})


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


# -- the saga page: pivot, repair links, the trail ------------------------------
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
def test_the_trail_inline_is_bounded(viewer, monkeypatch):
    saga = halted_saga()
    for n in range(3):
        Intervention.objects.create(saga=saga, action="compensate", actor=f"op{n}")
    monkeypatch.setattr(saga_admin.LatestTrailFormSet, "limit", 2)
    html = logged_in(viewer).get(change_url(saga)).content.decode()
    assert re.findall(r'<td class="field-actor">\s*<p>(\w+)</p>', html) == ["op2", "op1"]


# -- actions: the confirmation page ---------------------------------------------
ACTIONS = ("compensate_sagas", "retry_saga_compensations", "retry_failed_steps", "redrive_sagas")


@pytest.mark.django_db
@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_first_lists_the_selection_and_asks_why(operator, action):
    failed = build_saga("failed")
    broken = build_saga("compensation_failed")
    client = logged_in(operator)
    page = choose_action(client, action, failed, broken)
    assert page.status_code == 200
    html = page.content.decode()
    assert failed.pk in html and broken.pk in html
    assert 'name="reason"' in html and ('name="rate"' in html) == (action == "redrive_sagas")
    assert f'<input type="hidden" name="action" value="{action}">' in html
    assert html.count('name="_selected_action"') == 2
    # Nothing has happened yet.
    assert (state_of(failed), state_of(broken)) == ("failed", "compensation_failed")
    assert not Intervention.objects.exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   "])
def test_an_action_without_a_reason_is_asked_again_and_changes_nothing(operator, reason):
    failed = build_saga("failed")
    response = confirm_action(logged_in(operator), "compensate_sagas", failed, reason=reason)
    assert CONFIRMATION in [t.name for t in response.templates]
    assert response.context["form"].errors["reason"]
    assert state_of(failed) == "failed"
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_the_confirmation_page_says_which_sagas_will_be_left_alone_and_why(operator):
    halted = halted_saga()
    completed = build_saga("completed")
    html = choose_action(logged_in(operator), "compensate_sagas", halted, completed).content
    text = html.decode()
    assert "1 of those listed will be left alone" in text
    assert (
        f"Saga {halted.pk} is past its pivot step &#x27;capture&#x27;: what it did cannot be "
        "undone" in text
    )
    assert "Will be compensated." in text


@pytest.mark.django_db
def test_a_selection_over_the_limit_is_refused_whole(operator, monkeypatch):
    monkeypatch.setattr(saga_admin.bulk, "MAX_SELECTED", 2)
    sagas = [build_saga("failed") for _ in range(3)]
    client = logged_in(operator)
    response = choose_action(client, "compensate_sagas", *sagas)
    assert response.status_code == 302
    response = client.get(response.url)
    messages = shown_messages(response)
    assert messages == [
        "More than 2 sagas are selected, and an action here takes at most 2: filter the "
        "list, or use `manage.py saga` on a server. Nothing was changed."
    ]
    assert {state_of(s) for s in sagas} == {"failed"}


# -- actions: what each does -------------------------------------------------------
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
def test_an_action_records_who_and_why_on_the_trail_and_in_the_admin_log(operator):
    failed = build_saga("failed")
    run_action(logged_in(operator), "compensate_sagas", failed, reason="customer cancelled")
    [entry] = Intervention.objects.filter(saga=failed)
    assert (entry.action, entry.actor, entry.reason) == (
        "compensate",
        "operator",
        "customer cancelled",
    )
    [log] = LogEntry.objects.filter(object_id=failed.pk)
    assert log.user == operator
    assert log.get_change_message() == "Compensate: customer cancelled"


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
    assert [e.action for e in Intervention.objects.all()] == ["retry_compensation"]


@pytest.mark.django_db
def test_retry_failed_steps_action_sends_each_failed_step_again_with_its_input(operator):
    halted = halted_saga()
    completed = build_saga("completed")
    broken = build_saga("compensation_failed")
    response = run_action(
        logged_in(operator), "retry_failed_steps", halted, completed, broken, reason="carrier up"
    )
    ship = SagaStep.objects.get(saga=halted, name="ship")
    assert state_of(halted) == "started"
    assert (ship.status, ship.attempts, ship.input) == ("started", 2, {"address": "old"})
    assert OutboxMessage.objects.filter(saga=halted, kind="execute").count() == 1
    assert state_of(completed) == "completed" and state_of(broken) == "compensation_failed"
    assert not OutboxMessage.objects.filter(saga__in=[completed, broken]).exists()
    [entry] = Intervention.objects.all()
    assert (entry.saga_id, entry.action, entry.step, entry.actor, entry.reason) == (
        halted.pk,
        "retry_step",
        "ship",
        "operator",
        "carrier up",
    )
    assert sorted(shown_messages(response)) == sorted(
        [
            f"Saga {completed.pk} is completed with no failed step; only sagas that are "
            "failed or halted can be retried.",
            f"Saga {broken.pk} is compensation failed; its failed step 'b' can be retried "
            "only while the saga is failed or halted.",
            "Failed steps sent again for 1 saga.",
        ]
    )


@pytest.mark.django_db
def test_retry_failed_steps_retries_every_failed_step_of_a_saga(operator):
    saga = SagaFactory(state="failed", error="two steps failed")
    left = SagaStepFactory(saga=saga, position=0, stage=0, name="left", failed=True)
    right = SagaStepFactory(saga=saga, position=1, stage=0, name="right", failed=True)
    run_action(logged_in(operator), "retry_failed_steps", saga)
    assert state_of(saga) == "started"
    assert {s.status for s in SagaStep.objects.filter(pk__in=[left.pk, right.pk])} == {"started"}
    assert sorted(Intervention.objects.values_list("step", flat=True)) == ["left", "right"]


@pytest.mark.django_db
def test_redrive_action_paces_the_selection_and_reports_the_batch(operator):
    first, second = halted_saga(), halted_saga()
    broken = build_saga("compensation_failed")
    completed = build_saga("completed")
    before = timezone.now()
    response = run_action(
        logged_in(operator),
        "redrive_sagas",
        first,
        second,
        broken,
        completed,
        reason="carrier back",
        rate="4",
    )
    assert (state_of(first), state_of(second), state_of(broken)) == (
        "started",
        "started",
        "compensating",
    )
    assert state_of(completed) == "completed"
    entries = list(Intervention.objects.order_by("saga_id"))
    [batch] = {e.batch for e in entries}
    assert batch and {e.actor for e in entries} == {"operator"}
    assert sorted((e.saga_id, e.action) for e in entries) == sorted(
        [
            (first.pk, "retry_step"),
            (second.pk, "retry_step"),
            (broken.pk, "retry_compensation"),
        ]
    )
    # Oldest first, a quarter of a second apart: sent through the outbox, later.
    sends = [
        (OutboxMessage.objects.get(saga=s).available_at - before).total_seconds()
        for s in (first, second, broken)
    ]
    for i, offset in enumerate(sends):
        assert i / 4 <= offset < i / 4 + 1, sends
    assert sends == sorted(sends)
    follow = f"{TRAIL}?batch={batch}"
    assert sorted(shown_messages(response)) == sorted(
        [
            f"Saga {completed.pk} is completed with no failed step; only sagas that are "
            "failed, halted or whose compensation failed can be retried.",
            f"Re-drive {batch}: 3 sagas sent again at 4 a second; the last one goes out in "
            f'500 ms. <a href="{follow}">Follow it</a>.',
        ]
    )
    # The link lists what the re-drive did.
    listed = logged_in(operator).get(follow).context["cl"].result_list
    assert {e.saga_id for e in listed} == {first.pk, second.pk, broken.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("rate", ["0", "-1", "fast", "", "20000"])
def test_redrive_action_refuses_a_rate_that_is_not_a_pace(operator, rate):
    saga = halted_saga()
    response = confirm_action(
        logged_in(operator), "redrive_sagas", saga, reason="carrier back", rate=rate
    )
    assert CONFIRMATION in [t.name for t in response.templates]
    assert response.context["form"].errors["rate"]
    assert state_of(saga) == "halted"
    assert not Intervention.objects.exists()


# -- actions: who may -----------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("perms", "action"),
    [
        ((VIEW,), "compensate_sagas"),
        ((VIEW, COMPENSATE), "retry_saga_compensations"),
        ((VIEW, RETRY), "compensate_sagas"),
        ((VIEW, COMPENSATE, RETRY, REDRIVE), "retry_failed_steps"),
        ((VIEW, COMPENSATE, RETRY, RETRY_STEP), "redrive_sagas"),
    ],
)
def test_actions_need_their_own_permission(django_user_model, perms, action):
    user = make_user(django_user_model, *perms)
    client = logged_in(user)
    saga = build_saga("compensation_failed" if action.startswith("retry_saga") else "failed")
    before = state_of(saga)
    assert f'value="{action}"' not in client.get(CHANGELIST).content.decode()
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [saga.pk]})
    assert response.status_code == 403
    # Nor can the confirmation be posted straight away.
    data = {"action": action, "_selected_action": [saga.pk], "post": "yes", "reason": "x"}
    assert client.post(CHANGELIST, {**data, "rate": "5"}).status_code == 403
    assert state_of(saga) == before
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_the_actions_are_offered_to_users_holding_the_permissions(operator):
    build_saga("failed")  # the admin shows actions only when the list has rows
    html = logged_in(operator).get(CHANGELIST).content.decode()
    for action in ACTIONS:
        assert f'value="{action}"' in html
    assert ">Retry the failed steps of selected sagas<" in html
    assert ">Re-drive selected sagas<" in html


@pytest.mark.django_db
def test_staff_without_view_permission_cannot_open_the_list(django_user_model):
    user = make_user(django_user_model, COMPENSATE)
    assert logged_in(user).get(CHANGELIST).status_code == 403


# -- the trail's own list ----------------------------------------------------------------
@pytest.mark.django_db
def test_the_trail_list_is_read_only_filtered_by_action_and_searched_by_saga(viewer):
    saga, other = halted_saga(), build_saga("failed")
    retry = Intervention.objects.create(saga=saga, action="retry_step", step="ship", actor="al")
    undo = Intervention.objects.create(saga=other, action="compensate", actor="bo", batch="B1")
    client = logged_in(viewer)
    listed = client.get(TRAIL).context["cl"]
    assert [e.pk for e in listed.result_list] == [undo.pk, retry.pk]
    assert isinstance(listed.paginator, saga_admin.BoundedPaginator)
    assert [
        e.pk for e in client.get(TRAIL, {"action": "compensate"}).context["cl"].result_list
    ] == [undo.pk]
    assert [e.pk for e in client.get(TRAIL, {"q": saga.pk}).context["cl"].result_list] == [retry.pk]
    assert [e.pk for e in client.get(TRAIL, {"q": "B1"}).context["cl"].result_list] == [undo.pk]
    html = client.get(TRAIL).content.decode()
    assert reverse("admin:django_saga_saga_change", args=[saga.pk]) in html
    assert "Add intervention" not in html
    url = reverse("admin:django_saga_intervention_change", args=[retry.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": "rewritten"}).status_code == 403
    delete = reverse("admin:django_saga_intervention_delete", args=[retry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Intervention.objects.get(pk=retry.pk).reason == ""


# -- end to end ------------------------------------------------------------------------
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


@pytest.mark.django_db(transaction=True)
def test_the_retry_action_completes_halted_sagas_once_their_service_is_back(
    operator, run_engine, tmp_path
):
    up = tmp_path / "up"
    run_engine()
    declared = [
        Step("reserve", "test.record", "test.undo"),
        Step("capture", "test.record", pivot=True),
        Step("ship", "test.downstream", input={"up": str(up)}),
    ]
    sagas = [manager.start("order", declared) for _ in range(2)]
    assert {wait_terminal(s.id).state for s in sagas} == {"halted"}
    up.touch()
    run_action(logged_in(operator), "retry_failed_steps", *sagas)
    assert {wait_terminal(s.id).state for s in sagas} == {"completed"}
    assert Ledger.objects.filter(action="call:ship").count() == 2
