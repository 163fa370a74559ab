"""``manage.py saga task ...``: a user's tasks listed, shown and answered
from a shell, as that user, with their groups and permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from django_saga import Task
from django_saga.models import Intervention
from django_saga.testing import SagaTestKit
from tests.testapp.forms import RefundDecisionForm

from .helpers import refused, saga

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit(django_user_model):
    group = Group.objects.get_or_create(name="clerks")[0]
    for name in ("ada", "bob"):
        django_user_model.objects.create(username=name).groups.add(group)
    django_user_model.objects.create(username="carol")
    with SagaTestKit() as kit:
        yield kit


def start(kit):
    step = Task("confirm", form=RefundDecisionForm, candidates=["clerks"], show=["context.n"])
    made = kit.start("address", [step], {"n": 4})
    return made, kit.task(made, "confirm")


def test_list_and_show_what_the_user_may_see(kit):
    _, task = start(kit)
    listed = saga("task", "list", "--user", "ada")
    assert "mine: 1, claimed: 0, team: 1" in listed and task.pk in listed
    assert "No task here." in saga("task", "list", "--user", "carol")
    shown = saga("task", "show", task.pk, "--user", "ada")
    assert "context.n: 4" in shown and "form: amount, note?" in shown
    assert f"No task '{task.pk}'" in refused("task", "show", task.pk, "--user", "carol")


def test_claim_then_complete_as_the_user_recorded_on_the_trail(kit):
    made, task = start(kit)
    assert "claim done. It is now claimed, claimed by ada." in saga(
        "task", "claim", task.pk, "--user", "ada"
    )
    assert "claimed by ada" in refused(
        "task", "complete", task.pk, "--user", "bob", "--data", '{"amount": "1"}'
    )
    printed = saga("task", "complete", task.pk, "--user", "ada", "--data", '{"amount": "2"}')
    assert "It is now completed" in printed
    kit.run()
    assert kit.saga(made).state == "completed"
    assert list(Intervention.objects.values_list("action", "actor")) == [
        ("task_claim", "ada"),
        ("task_complete", "ada"),
    ]


def test_a_form_error_names_the_field_and_reject_needs_a_reason(kit):
    _, task = start(kit)
    said = refused("task", "complete", task.pk, "--user", "ada", "--data", '{"amount": "x"}')
    assert "amount: Enter a number." in said
    assert "required: --reason" in refused("task", "reject", task.pk, "--user", "ada")
    assert "No user 'nobody'" in refused("task", "claim", task.pk, "--user", "nobody")
