"""The flow endpoints' schemas: the document describes what they answer,
closed, so a field added to one side alone is caught."""

from __future__ import annotations

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from django_saga import manager
from django_saga.console.flow_api import flow_document, pause_json
from django_saga.messages import EXECUTE
from django_saga.models import HeldMessage
from tests.unit.console.openapi.helpers import fits

pytestmark = pytest.mark.django_db


def as_sent(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def test_the_flow_and_a_pause_fit_their_schemas_and_nothing_more():
    HeldMessage.objects.create(
        saga_id="S1", step_id="T1", kind=EXECUTE, attempt=1, action="test.limited"
    )
    pause = manager.pause(action="pay*", by="ada", reason="outage")
    document = as_sent(flow_document())
    assert fits("Flow", document)
    assert [row["action"] for row in document["limits"] if row["waiting"]] == ["test.limited"]
    assert fits("Pause", as_sent(pause_json(pause)))
    ended = manager.resume(action="pay*", by="ada", reason="back")
    assert fits("Pause", as_sent(pause_json(ended)))
    assert not fits("Pause", {**as_sent(pause_json(ended)), "owner": "ops"})
    assert fits("PauseBody", {"action": "pay*", "reason": "r"})
    assert not fits("PauseBody", {"action": "pay*"})
    assert not fits("PauseBody", {"reason": "r"})
    assert not fits("PauseBody", {"action": "a", "name": "b", "reason": "r"})
