"""The operator actions on the saga list's selection: a confirmation page first,
then each saga through the manager, each refusal named, each action permitted."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from django_saga import Step, manager
from django_saga import admin as saga_admin
from django_saga.models import Intervention, OutboxMessage, SagaStep
from tests.factories import SagaFactory, SagaStepFactory
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.admin.helpers import (
    CHANGELIST,
    CONFIRMATION,
    TRAIL,
    choose_action,
    confirm_action,
    halted_saga,
    run_action,
    shown_messages,
    state_of,
)
from tests.unit.console.helpers import (
    COMPENSATE,
    REDRIVE,
    RETRY,
    RETRY_STEP,
    VIEW,
    build_saga,
    logged_in,
    make_user,
)

# -- the confirmation page ---------------------------------------------------
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


# -- what each does -------------------------------------------------------------
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


# -- who may ---------------------------------------------------------------------
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


# -- end to end ------------------------------------------------------------------
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
