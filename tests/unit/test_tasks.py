"""Declaring task steps (django_saga.tasks): what a task step keeps in its
input, and every way a declaration can be wrong, refused where it is made."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_saga import (
    Approval,
    CompleteWith,
    FailTask,
    OfferTo,
    SagaDefinitionError,
    Step,
    Task,
    manager,
)
from django_saga.models import TASK_ACTION
from django_saga.tasks import ApprovalForm, DoneForm, check, form_class
from tests.testapp.forms import RefundDecisionForm

FORM = "tests.testapp.forms.RefundDecisionForm"


def test_a_task_keeps_what_it_asks_of_whom_as_json_in_its_step_s_input():
    step = Task(
        "approve_refund",
        form=RefundDecisionForm,
        candidates=["refund-managers"],
        permission="shop.approve_refund",
        due=timedelta(hours=4),
        on_due=OfferTo("directors", due=3600),
        show={"Amount": "context.amount"},
        compensation="shop.notify_refund_withdrawn",
    )
    assert (step.name, step.action, step.compensation) == (
        "approve_refund",
        TASK_ACTION,
        "shop.notify_refund_withdrawn",
    )
    assert step.input == {
        "title": "Approve refund",
        "form": FORM,
        "candidates": ["refund-managers"],
        "permission": "shop.approve_refund",
        "due_seconds": 14400.0,
        "on_due": {"offer": ["directors"], "due_seconds": 3600},
        "show": {"Amount": "context.amount"},
        "delegate": True,
    }


def test_the_escalations_and_the_shortcuts_keep_their_own_shape():
    fail = Task("t", candidates=["g"], due=60, on_due=FailTask("too late"))
    assert fail.input["on_due"] == {"fail": "too late"}
    assert fail.input["form"] == f"{DoneForm.__module__}.DoneForm"
    done = Task("t", candidates=["g"], due=60, on_due=CompleteWith({"approved": False}))
    assert done.input["on_due"] == {"complete": {"approved": False}}
    approval = Approval("ok", candidates=["g"], show=["context.amount"])
    assert approval.input["form"] == f"{ApprovalForm.__module__}.ApprovalForm"
    assert approval.input["show"] == {"context.amount": "context.amount"}


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({}, "Task 'approve' is offered to nobody: give candidates or a permission"),
        ({"candidates": "managers"}, "candidates must be a list, not the string 'managers'"),
        ({"candidates": ["g"], "show": "context.amount"}, "show must be a list"),
        ({"candidates": [""]}, "candidates must be group names"),
        ({"candidates": ["g"], "permission": "approve"}, "permission must be 'app_label.codename'"),
        ({"candidates": ["g"], "form": "tests.testapp.forms.Missing"}, "cannot be imported"),
        ({"candidates": ["g"], "form": "tests.testapp.sagas.Report"}, "is not a Django form class"),
        ({"candidates": ["g"], "form": dict}, "must be a Django form class"),
        ({"candidates": ["g"], "due": -1}, "due"),
        ({"candidates": ["g"], "on_due": FailTask()}, "escalates on_due but has no due time"),
        ({"candidates": ["g"], "due": 60, "on_due": OfferTo()}, "OfferTo needs one group name"),
        ({"candidates": ["g"], "due": 60, "on_due": "fail"}, "on_due must be OfferTo"),
        (
            {"candidates": ["g"], "due": 60, "on_due": CompleteWith({"at": object()})},
            "CompleteWith data",
        ),
        ({"candidates": ["g"], "show": {"Amount": "amount"}}, "show"),
        ({"candidates": ["g"], "delegate": "yes"}, "delegate must be True or False"),
    ],
)
def test_a_task_that_cannot_be_offered_shown_or_answered_is_refused_naming_why(options, says):
    with pytest.raises(SagaDefinitionError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Task("approve", **options)


def test_an_approval_has_its_own_form():
    with pytest.raises(SagaDefinitionError, match="has its own form"):
        Approval("ok", candidates=["g"], form=RefundDecisionForm)


def test_a_task_step_declared_as_a_dict_is_checked_as_any_when_its_saga_starts(db):
    good = Task("t", candidates=["g"])
    check(Step("t", TASK_ACTION, "", dict(good.input)))
    with pytest.raises(SagaDefinitionError, match="has an input of"):
        manager.start("x", [{"name": "t", "action": TASK_ACTION, "input": {"title": "T"}}])


def test_the_form_a_task_names_is_found_by_its_path():
    assert form_class(FORM, "Task 't'") is RefundDecisionForm
