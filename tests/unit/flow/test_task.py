"""A task step's message (flow/task.py): it makes one task per attempt,
offered as its input says, and a copy makes none; what it shows is read
when it is made; whom a task is offered to, as rows."""

from __future__ import annotations

import pytest

from django_saga import Step, Task
from django_saga.flow import offers
from django_saga.messages import EXECUTE, StepMessage
from django_saga.models import OfferKind, SagaTask, TaskOffer
from django_saga.processor import ACK
from django_saga.testing import SagaTestKit

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


def test_a_copy_of_the_message_that_made_the_task_makes_no_other(kit):
    saga = kit.start("t", [Task("approve", candidates=["g"], permission="auth.view_user")])
    step = kit.saga(saga).step("approve")
    copy = StepMessage(EXECUTE, saga.pk, step.pk, step.attempts).encode().encode()
    with kit.committed():
        assert kit.processor.process(copy, True).action == ACK
    assert SagaTask.objects.count() == 1
    assert kit.saga(saga).step("approve").status == "waiting"
    assert set(TaskOffer.objects.values_list("kind", "name")) == {
        ("group", "g"),
        ("permission", "auth.view_user"),
    }
    [entry] = [e for e in kit.saga(saga).step("approve").history if e["kind"] == EXECUTE]
    assert (entry["outcome"], entry["task"]) == ("offered", SagaTask.objects.get().pk)


def test_what_the_task_shows_is_read_when_it_is_made_and_a_missing_value_fails_the_step(kit):
    steps = [
        Step("quote", "test.set_output", ""),  # its output: {"via": "attribute"}
        Task("approve", candidates=["g"], show={"Via": "quote.via", "Who": "context.who"}),
    ]
    shown = kit.start("t", steps, {"who": "ada"})
    assert kit.task(shown, "approve").shown == {"Via": "attribute", "Who": "ada"}
    missing = kit.start("t2", steps)
    assert missing.state == "compensated"
    assert "reads 'context.who'" in missing.step("approve").error
    assert SagaTask.objects.count() == 1


def test_offers_name_each_group_once_the_permission_or_one_user_alone():
    task = SagaTask(pk="T")
    rows = offers(task, ["a", "b", "a"], "app.perm")
    assert [(r.kind, r.name) for r in rows] == [
        (OfferKind.GROUP, "a"),
        (OfferKind.GROUP, "b"),
        (OfferKind.PERMISSION, "app.perm"),
    ]
    assert [(r.kind, r.name) for r in offers(task, ["a"], "app.perm", user="ada")] == [
        (OfferKind.USER, "ada")
    ]
