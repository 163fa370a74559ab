"""The inbox and a task's page: people answer task steps there, whether or
not they may use the rest of the console; a task not offered to them is
refused, and never listed or counted."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from django_saga import Step, Task, manager
from django_saga.models import Intervention, SagaTask
from django_saga.testing import SagaTestKit
from tests.testapp.forms import RefundDecisionForm

pytestmark = pytest.mark.django_db

INBOX = reverse("django_saga:tasks")


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


@pytest.fixture
def people(django_user_model):
    """Two refund managers who are not staff and may not use the console, and a clerk."""
    group = Group.objects.get_or_create(name="refund-managers")[0]
    made = {
        name: django_user_model.objects.create(username=name, is_staff=False)
        for name in ("ada", "bob", "carol")
    }
    for name in ("ada", "bob"):
        made[name].groups.add(group)
    return made


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def refund(kit, amount=120):
    steps = [
        Task(
            "approve",
            title="Approve a refund",
            form=RefundDecisionForm,
            candidates=["refund-managers"],
            show={"Amount": "context.amount"},
        ),
        Step("pay", "test.record", ""),
    ]
    saga = kit.start("refund", steps, {"amount": amount, "card": "4111-0000-secret"})
    return saga, kit.task(saga, "approve")


def page(task: SagaTask) -> str:
    return reverse("django_saga:task", args=[task.pk])


def act(task: SagaTask, name: str) -> str:
    return reverse(f"django_saga:task-{name}", args=[task.pk])


def test_the_inbox_lists_and_counts_the_tasks_offered_to_its_user_without_console_access(
    kit, people
):
    _, task = refund(kit)
    answer = as_user(people["ada"]).get(INBOX)
    assert answer.status_code == 200
    assert [t.pk for t in answer.context["tasks"]] == [task.pk]
    assert answer.context["boxes"] == [
        ("mine", "Offered to me", 1),
        ("claimed", "Claimed by me", 0),
        ("team", "My teams'", 0 + 1),
    ]
    html = answer.content.decode()
    assert '<span class="count" id="tasks-count">1</span>' in html
    assert 'id="flow-link"' not in html  # no console for her
    assert "Amount: 120" in html
    # The console itself stays closed to her.
    assert as_user(people["ada"]).get(reverse("django_saga:dashboard")).status_code == 403


def test_a_task_not_offered_to_the_user_is_refused_and_neither_listed_nor_counted(kit, people):
    _, task = refund(kit)
    carol = as_user(people["carol"])
    assert carol.get(page(task)).status_code == 403
    assert carol.post(act(task, "claim")).status_code == 403
    assert carol.get(reverse("django_saga:task", args=["0" * 26])).status_code == 403
    answer = carol.get(INBOX + "?box=team")
    assert answer.context["tasks"] == []
    assert 'id="tasks-count"' not in answer.content.decode()
    assert as_user(people["carol"]).get(INBOX + "?box=all").context["box"] == "mine"


def test_the_task_page_shows_what_the_task_shows_and_its_form(kit, people):
    _, task = refund(kit)
    html = as_user(people["ada"]).get(page(task)).content.decode()
    assert "Approve a refund" in html and ">120<" in html
    assert 'name="amount"' in html and 'id="claim-button"' in html
    assert "4111-0000-secret" not in html  # only what the step chose to show


def test_completing_through_the_form_completes_the_step_and_the_saga(kit, people):
    saga, task = refund(kit)
    ada = as_user(people["ada"])
    with kit.committed():
        answer = ada.post(act(task, "complete"), {"amount": "99.50", "note": "checked"})
    assert answer.status_code == 302 and answer["Location"] == INBOX
    kit.run()
    done = kit.saga(saga)
    assert done.state == "completed"
    assert done.step("approve").output == {"amount": "99.50", "note": "checked"}
    assert Intervention.objects.get().actor == "ada"


def test_a_form_error_is_shown_on_the_page_with_the_input_kept_and_nothing_recorded(kit, people):
    saga, task = refund(kit)
    answer = as_user(people["ada"]).post(act(task, "complete"), {"amount": "-5", "note": "mine"})
    assert answer.status_code == 200
    html = answer.content.decode()
    assert 'id="id_amount_error"' in html
    assert 'value="-5"' in html and 'value="mine"' in html
    assert kit.task(saga, "approve").state == "open"
    assert not Intervention.objects.exists()


def test_claim_and_release_from_the_page(kit, people):
    _, task = refund(kit)
    ada, bob = as_user(people["ada"]), as_user(people["bob"])
    assert ada.post(act(task, "claim")).status_code == 302
    assert [t.pk for t in ada.get(INBOX + "?box=claimed").context["tasks"]] == [task.pk]
    refused = bob.post(act(task, "complete"), {"amount": "1"}, follow=True)
    assert "claimed by ada" in refused.content.decode()
    assert bob.get(page(task)).context["may_answer"] is False
    ada.post(act(task, "release"))
    assert SagaTask.objects.get().state == "open"


def test_reject_needs_a_reason_and_compensates(kit, people):
    saga, task = refund(kit)
    ada = as_user(people["ada"])
    refused = ada.post(act(task, "reject"), {"reason": " "}, follow=True)
    assert "reason" in refused.content.decode().lower()
    assert kit.task(saga, "approve").state == "open"
    with kit.committed():
        ada.post(act(task, "reject"), {"reason": "not ours to refund"})
    kit.run()
    assert kit.saga(saga).state == "compensated"


def test_delegating_hands_the_task_to_one_user(kit, people):
    _, task = refund(kit)
    ada = as_user(people["ada"])
    ada.post(act(task, "delegate"), {"to": "carol", "reason": "she knows the customer"})
    carol = as_user(people["carol"])
    assert [t.pk for t in carol.get(INBOX + "?box=claimed").context["tasks"]] == [task.pk]
    assert carol.get(page(task)).status_code == 200
    assert manager.tasks(people["bob"], "team") == []


def test_the_inbox_pages_by_fifty_newest_first(kit, people):
    made = [refund(kit, amount=n)[1].pk for n in range(55)]
    ada = as_user(people["ada"])
    first = ada.get(INBOX)
    assert [t.pk for t in first.context["tasks"]] == made[::-1][:50]
    second = ada.get(INBOX + f"?before={first.context['next_before']}")
    assert [t.pk for t in second.context["tasks"]] == made[::-1][50:]
    assert second.context["next_before"] == ""
