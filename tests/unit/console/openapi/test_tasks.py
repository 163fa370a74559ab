"""The tasks' schemas: the document describes a task and a box as the
endpoints give them, closed, and the bodies each act takes."""

from __future__ import annotations

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from django_saga import Task
from django_saga.console.task_api import task_json
from django_saga.testing import SagaTestKit
from tests.testapp.forms import RefundDecisionForm
from tests.unit.console.openapi.helpers import DOC, fits

pytestmark = pytest.mark.django_db


def as_sent(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def test_a_task_fits_its_schema_and_nothing_more():
    with SagaTestKit() as kit:
        saga = kit.start("t", [Task("ok", form=RefundDecisionForm, candidates=["g"], due=60)])
        sent = as_sent(task_json(kit.task(saga, "ok")))
    assert fits("Task", sent)
    assert not fits("Task", {**sent, "saga_id": saga.pk})  # the saga is not the caller's to see
    assert fits("TaskBox", {"box": "mine", "counts": {"mine": 1}, "results": [sent], "next": None})


def test_each_act_s_body_says_what_it_needs():
    assert fits("TaskClaimBody", {}) and not fits("TaskClaimBody", {"to": "x"})
    assert fits("TaskDelegateBody", {"to": "ada", "reason": "r"})
    assert not fits("TaskDelegateBody", {"to": "ada"})
    assert fits("TaskCompleteBody", {"data": {"amount": "1"}})
    assert not fits("TaskRejectBody", {})
    act = DOC["paths"]["/api/tasks/{task_id}/reject/"]["post"]
    assert act["requestBody"]["required"] is True
    assert set(act["responses"]) == {"200", "400", "401", "403", "409", "413"}
