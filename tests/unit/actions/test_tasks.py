"""People answering task steps (actions/tasks.py), through the manager and
the test kit: a task is offered to its candidates only, claimed, released,
delegated, completed through its form or rejected; each change is on the
saga's trail and signalled once, after the commit."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission

from django_saga import (
    Approval,
    CompleteWith,
    FailTask,
    OfferTo,
    Step,
    StepNotWaiting,
    Task,
    TaskClosed,
    TaskFormInvalid,
    TaskNotAllowed,
    TaskNotFound,
    manager,
    signals,
)
from django_saga.models import Intervention, SagaTask, TaskOffer, TaskState
from django_saga.testing import SagaTestKit
from tests.testapp.forms import RefundDecisionForm

pytestmark = pytest.mark.django_db

FORM = RefundDecisionForm


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


@pytest.fixture
def people(django_user_model):
    """Two refund managers, a clerk in no group, and a team lead."""
    managers = Group.objects.get_or_create(name="refund-managers")[0]
    Group.objects.get_or_create(name="directors")[0]
    made = {}
    for name in ("ada", "bob", "carol", "lead"):
        made[name] = django_user_model.objects.create(username=name)
    for name in ("ada", "bob"):
        made[name].groups.add(managers)
    made["lead"].user_permissions.add(
        Permission.objects.get(content_type__app_label="django_saga", codename="act_on_any_task")
    )
    return made


def refund(**options) -> list:
    options.setdefault("candidates", ["refund-managers"])
    return [
        Step("reserve", "test.record", "test.undo"),
        Task("approve", form=FORM, show={"Amount": "context.amount"}, **options),
        Step("pay", "test.set_output", ""),
    ]


@pytest.fixture
def sent():
    """Each task signal sent, by name, once the change committed."""
    found: Counter[str] = Counter()
    names = ("task_created", "task_due", "task_escalated", "task_assigned", "task_completed",
             "task_rejected", "task_cancelled")  # fmt: skip

    def receiver(name):
        return lambda sender, task, saga, step, **kwargs: found.update([name])

    receivers = [(getattr(signals, name), receiver(name)) for name in names]
    for signal, fn in receivers:
        signal.connect(fn, weak=False)
    yield found
    for signal, fn in receivers:
        signal.disconnect(fn)


def test_a_task_is_offered_to_its_candidates_alone_and_shows_what_the_step_says(kit, people, sent):
    saga = kit.start("refund", refund(), {"amount": 120, "card": "4111"})
    assert kit.saga(saga).step("approve").status == "waiting"
    task = kit.task(saga, "approve")
    assert (task.title, task.state, task.shown) == ("Approve", "open", {"Amount": 120})
    assert set(TaskOffer.objects.values_list("kind", "name")) == {("group", "refund-managers")}
    assert sent == {"task_created": 1}
    for name in ("ada", "bob"):
        assert manager.tasks(people[name]) == [task]
        assert manager.task_counts(people[name]) == {"mine": 1, "claimed": 0, "team": 1}
    # Whoever it is not offered to sees nothing of it: no list, no count, no id.
    assert manager.tasks(people["carol"], "team") == []
    assert manager.task_counts(people["carol"]) == {"mine": 0, "claimed": 0, "team": 0}
    with pytest.raises(TaskNotFound):
        manager.task(task.pk, people["carol"])
    with pytest.raises(TaskNotFound):
        manager.claim_task(task.pk, by=people["carol"])
    assert manager.tasks(people["lead"], "all") == [task]


def test_a_completed_task_s_cleaned_data_is_its_step_s_output_and_the_saga_goes_on(
    kit, people, sent
):
    saga = kit.start("refund", refund(), {"amount": 120})
    done = kit.complete_task(saga, "approve", {"amount": "99.50", "note": "ok"}, by="ada")
    assert done.state == "completed"
    assert done.step("approve").output == {"amount": "99.50", "note": "ok"}
    task = kit.task(saga, "approve")
    assert (task.state, task.done_by) == (TaskState.COMPLETED, "ada")
    assert not TaskOffer.objects.exists()  # no longer offered to anyone
    entry = Intervention.objects.get(saga_id=saga.pk)
    assert (entry.action, entry.step, entry.actor) == ("task_complete", "approve", "ada")
    assert entry.details == {"task": task.pk, "output": {"amount": "99.50", "note": "ok"}}
    assert sent == {"task_created": 1, "task_completed": 1}
    with pytest.raises(TaskClosed, match="was completed by ada"):
        manager.complete_task(task.pk, {"amount": "1"}, by=people["bob"])


def test_a_task_answered_by_someone_else_after_it_was_read_is_closed_not_unknown(kit, people):
    """Two people submit at once: the one who read the task before the other's
    answer ended it (and its offers) is told it closed, not that it is none
    of theirs."""
    from django_saga.actions.tasks import may_see

    saga = kit.start("refund", refund(), {"amount": 120})
    read_by_bob = kit.task(saga, "approve")
    kit.complete_task(saga, "approve", {"amount": "120", "note": ""}, by="ada")
    assert read_by_bob.live and not TaskOffer.objects.exists()
    assert may_see(read_by_bob, people["bob"])
    assert not may_see(kit.task(saga, "approve"), people["carol"])


def test_an_answer_that_fails_the_form_names_each_error_and_records_nothing(kit, people):
    saga = kit.start("refund", refund(), {"amount": 120})
    task = kit.task(saga, "approve")
    with pytest.raises(TaskFormInvalid) as refused:
        manager.complete_task(task.pk, {"amount": "-3", "note": "x" * 201}, by=people["ada"])
    assert set(refused.value.errors) == {"amount", "note"}
    assert kit.task(saga, "approve").state == "open"
    assert kit.saga(saga).step("approve").status == "waiting"
    assert not Intervention.objects.exists()


def test_rejecting_a_task_fails_its_step_and_the_saga_compensates(kit, people, sent):
    saga = kit.start("refund", refund(), {"amount": 120})
    done = kit.reject_task(saga, "approve", "more than the order", by="bob")
    assert done.state == "compensated"
    assert done.step("approve").status == "failed"
    assert "more than the order" in done.step("approve").error
    assert done.step("reserve").status == "compensated"
    task = kit.task(saga, "approve")
    assert (task.state, task.done_by, task.reason) == (
        "rejected",
        "bob",
        "rejected: more than the order",
    )
    with pytest.raises(Exception, match="reason"):
        manager.reject_task(
            kit.task(kit.start("r2", refund(), {"amount": 5}), "approve").pk, by="bob", reason=" "
        )
    assert sent["task_rejected"] == 1


def test_a_claimed_task_is_its_claimant_s_until_released(kit, people, sent):
    saga = kit.start("refund", refund(), {"amount": 120})
    task = kit.task(saga, "approve")
    with kit.committed():
        manager.claim_task(task.pk, by=people["ada"], reason="mine")
    assert manager.tasks(people["ada"], "claimed") == [task]
    assert manager.tasks(people["bob"], "mine") == []  # claimed: not offered to take
    assert manager.task_counts(people["ada"]) == {"mine": 0, "claimed": 1, "team": 1}
    assert manager.task_counts(people["bob"]) == {"mine": 0, "claimed": 0, "team": 1}
    assert manager.tasks(people["bob"], "team") == [task]  # still the team's to see
    with pytest.raises(TaskNotAllowed, match="claimed by ada"):
        manager.complete_task(task.pk, {"amount": "1"}, by=people["bob"])
    with pytest.raises(TaskNotAllowed, match="claimed by ada"):
        manager.claim_task(task.pk, by=people["bob"])
    with pytest.raises(TaskNotAllowed, match="claimed by ada"):
        manager.release_task(task.pk, by=people["bob"])
    with kit.committed():
        manager.release_task(task.pk, by=people["ada"], reason="on leave")
    assert manager.tasks(people["bob"], "mine") == [task]
    assert manager.task_counts(people["ada"]) == {"mine": 1, "claimed": 0, "team": 1}
    actions = list(Intervention.objects.order_by("at", "id").values_list("action", "actor"))
    assert actions == [("task_claim", "ada"), ("task_release", "ada")]
    assert sent["task_assigned"] == 2


def test_a_delegated_task_is_the_named_user_s_alone(kit, people):
    saga = kit.start("refund", refund(), {"amount": 120})
    task = kit.task(saga, "approve")
    with pytest.raises(Exception, match="reason"):
        manager.delegate_task(task.pk, "carol", by=people["ada"], reason="")
    manager.delegate_task(task.pk, "carol", by=people["ada"], reason="carol knows the customer")
    assert manager.tasks(people["carol"], "claimed") == [task]
    assert manager.tasks(people["ada"], "team") == []  # no longer offered to the group
    done = kit.complete_task(saga, "approve", {"amount": "10"}, by="carol")
    assert done.state == "completed"
    entry = Intervention.objects.get(action="task_delegate")
    assert (entry.actor, entry.details["to"]) == ("ada", "carol")


def test_a_task_that_may_not_be_delegated_says_so(kit, people):
    saga = kit.start("refund", refund(delegate=False), {"amount": 120})
    with pytest.raises(TaskNotAllowed, match="may not be delegated"):
        manager.delegate_task(kit.task(saga, "approve").pk, "carol", by="ada", reason="x")


def test_a_team_lead_acts_on_any_task(kit, people):
    saga = kit.start("refund", refund(), {"amount": 120})
    manager.claim_task(kit.task(saga, "approve").pk, by=people["ada"])
    assert kit.complete_task(saga, "approve", {"amount": "5"}, by="lead").state == "completed"


def test_a_task_offered_by_permission_reaches_its_holders(kit, people):
    permission = Permission.objects.get(content_type__app_label="auth", codename="view_user")
    people["carol"].user_permissions.add(permission)
    saga = kit.start("refund", refund(candidates=[], permission="auth.view_user"), {"amount": 1})
    task = kit.task(saga, "approve")
    assert manager.tasks(people["carol"]) == [task]
    assert manager.tasks(people["ada"]) == []


def test_an_approval_completes_with_its_comment(kit, people):
    steps = [Approval("ok", candidates=["refund-managers"]), Step("pay", "test.record", "")]
    saga = kit.start("approval", steps)
    done = kit.complete_task(saga, "ok", {"comment": "fine"}, by="ada")
    assert (done.state, done.step("ok").output) == ("completed", {"comment": "fine"})


def test_a_task_step_is_not_completed_as_an_outside_result(kit, people):
    saga = kit.start("refund", refund(), {"amount": 1})
    with pytest.raises(StepNotWaiting, match="is a task"):
        manager.complete_step(saga.pk, "approve", {"amount": "1"})


def test_past_due_a_task_is_offered_to_the_next_group(kit, people, sent):
    options = {"due": timedelta(hours=4), "on_due": OfferTo("directors")}
    saga = kit.start("refund", refund(**options), {"amount": 1})
    task = kit.task(saga, "approve")
    assert task.due_at == kit.clock.now() + timedelta(hours=4)
    manager.claim_task(task.pk, by=people["ada"])
    kit.advance(hours=3, minutes=59)
    assert sent["task_due"] == 0
    kit.advance(minutes=1)
    task.refresh_from_db()
    assert (task.state, task.claimed_by, task.escalations, task.overdue) == ("open", "", 1, True)
    assert set(TaskOffer.objects.values_list("kind", "name")) == {("group", "directors")}
    assert manager.tasks(people["ada"], "team") == []
    kit.advance(days=1)
    assert (sent["task_due"], sent["task_escalated"]) == (1, 1)  # once per transition


def test_past_due_a_task_fails_and_its_saga_compensates(kit, people, sent):
    options = {"due": 60, "on_due": FailTask("nobody approved within a minute")}
    saga = kit.start("refund", refund(**options), {"amount": 1})
    kit.advance(minutes=1)
    done = kit.saga(saga)
    assert done.state == "compensated"
    assert "nobody approved within a minute" in done.step("approve").error
    assert kit.task(saga, "approve").state == "rejected"
    assert (sent["task_due"], sent["task_rejected"]) == (1, 1)


def test_past_due_a_task_completes_with_its_default(kit, people):
    options = {"due": 60, "on_due": CompleteWith({"amount": "0.00", "note": "by default"})}
    saga = kit.start("refund", refund(**options), {"amount": 1})
    kit.advance(minutes=1)
    done = kit.saga(saga)
    assert done.state == "completed"
    assert done.step("approve").output == {"amount": "0.00", "note": "by default"}


def test_past_due_without_an_escalation_a_task_is_marked_overdue_once(kit, people, sent):
    saga = kit.start("refund", refund(due=60), {"amount": 1})
    kit.advance(hours=2)
    task = kit.task(saga, "approve")
    assert (task.state, task.overdue) == ("open", True)
    assert sent["task_due"] == 1
    assert kit.complete_task(saga, "approve", {"amount": "1"}, by="ada").state == "completed"


def test_a_saga_that_goes_back_cancels_its_waiting_task(kit, people, sent):
    saga = kit.start("refund", refund(), {"amount": 1})
    with kit.committed():
        manager.compensate(saga.pk, by="ops", reason="order cancelled")
    kit.run()
    assert kit.saga(saga).state == "compensated"
    assert kit.saga(saga).step("approve").status == "cancelled"
    task = kit.task(saga, "approve")
    assert task.state == "cancelled" and not TaskOffer.objects.exists()
    assert sent["task_cancelled"] == 1
    with pytest.raises(TaskClosed, match="was cancelled"):
        manager.complete_task(task.pk, {"amount": "1"}, by=people["ada"])


def test_an_operator_who_skips_a_task_step_ends_its_task(kit, people):
    saga = kit.start("refund", refund(), {"amount": 1})
    manager.skip_step(saga.pk, "approve", {"amount": "1"}, by="ops", reason="approved by phone")
    kit.run()
    assert kit.saga(saga).state == "completed"
    task = kit.task(saga, "approve")
    assert (task.state, task.done_by) == ("cancelled", "ops")


def test_tasks_are_acted_on_by_users_not_bare_names_that_match_none(kit, people):
    saga = kit.start("refund", refund(), {"amount": 1})
    with pytest.raises(Exception, match="No user 'nobody'"):
        manager.claim_task(kit.task(saga, "approve").pk, by="nobody")
    assert SagaTask.objects.get().state == "open"
