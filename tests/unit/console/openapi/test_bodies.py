"""django_saga.console.openapi.bodies: the request bodies the document describes
take what the endpoints take and refuse what they refuse."""

from __future__ import annotations

from typing import Any

import pytest

from django_saga.actions import ACTIONS, MAX_RATE, MIN_RATE, REASON_MAX_CHARS
from django_saga.console.openapi.paths import body_name
from django_saga.console.queries import REDRIVE_AT_ONCE
from tests.unit.console.openapi.helpers import DOC, fits

BY_ID = {"saga_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "step_id": "pay", "attempt": 1}
BY_KEY = {"saga_name": "order", "key": "order-7", "step_id": "pay", "attempt": 1}


@pytest.mark.parametrize(
    ("report", "valid"),
    [
        ({**BY_ID, "status": "completed", "output": {"charge": "ch_1"}}, True),
        ({**BY_ID, "status": "failed", "error": "card declined", "report_token": "t"}, True),
        ({**BY_KEY, "status": "completed", "report_token": "t"}, True),
        ({**BY_KEY, "status": "completed"}, False),
        ({**BY_KEY, "status": "completed", "report_token": None}, False),
        ({**BY_ID, "saga_name": "order", "key": "order-7", "status": "completed"}, False),
        ({**BY_ID, "saga_name": "order", "status": "completed"}, False),
        ({"step_id": "pay", "attempt": 1, "status": "completed"}, False),
        ({**BY_ID, "status": "done"}, False),
        ({**BY_ID, "attempt": 0, "status": "completed"}, False),
        ({**BY_ID, "status": "completed", "output": [1]}, False),
        ({**BY_ID, "status": "completed", "extra": 1}, False),
        ({**BY_KEY, "key": "order\u202e7", "status": "completed", "report_token": "t"}, False),
    ],
    ids=[
        "by-id", "by-id-with-token", "by-key", "by-key-without-token", "by-key-null-token",
        "both-ways", "id-and-name", "no-saga", "unknown-status", "attempt-0", "output-list",
        "unknown-field", "key-with-bidi-control",
    ],
)  # fmt: skip
def test_a_step_report_names_its_saga_one_way_and_by_key_carries_the_token(report, valid):
    """What a provider implementing the webhook reads: the webhook refuses
    each of the invalid ones (``tests/unit/test_webhook.py``)."""
    assert fits("StepReport", report) is valid


def redrive(**fields: Any) -> dict[str, Any]:
    return {"rate": 1, "reason": "carrier back", **fields}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        (redrive(), True),
        (redrive(state="halted"), True),
        (redrive(state=["failed", "compensation_failed"]), True),
        (redrive(state="all"), True),
        (redrive(state=""), True),
        (redrive(state="completed"), False),
        (redrive(state=["halted", "started"]), False),
        (redrive(rate=MIN_RATE), True),
        (redrive(rate=MAX_RATE), True),
        (redrive(rate=MAX_RATE * 2), False),
        (redrive(rate=0), False),
        (redrive(limit=REDRIVE_AT_ONCE), True),
        (redrive(limit=REDRIVE_AT_ONCE + 1), False),
        (redrive(limit=0), False),
        (redrive(older_than="30m"), True),
        (redrive(older_than=90), True),
        (redrive(older_than="soon"), False),
        (redrive(reason="  "), False),
        (redrive(reason="r" * (REASON_MAX_CHARS + 1)), False),
        ({"rate": 1}, False),
        (redrive(batch="x"), False),
    ],
    ids=[
        "least", "one-state", "states", "all", "empty-state", "not-waiting",
        "a-state-not-waiting", "slowest", "fastest", "too-fast", "no-rate", "limit",
        "over-limit", "limit-0", "age", "seconds", "not-an-age", "blank-reason",
        "long-reason", "no-reason", "unknown-field",
    ],
)  # fmt: skip
def test_the_redrive_body_takes_the_waiting_states_and_the_limits_the_endpoint_takes(body, valid):
    assert fits("RedriveBody", body) is valid


def test_each_action_has_a_body_holding_a_reason_and_its_own_json_object():
    with_data = [action for action in ACTIONS if action.data is not None]
    assert with_data, "no action takes a JSON object: this test checks nothing"
    for action in ACTIONS:
        name = body_name(action)
        assert name in DOC["components"]["schemas"], name
        assert fits(name, {"reason": "ticket OPS-1"})
        assert not fits(name, {})
        assert not fits(name, {"reason": "ticket OPS-1", "why": 1})
    for action in with_data:
        assert action.data is not None
        key, name = action.data.key, body_name(action)
        assert fits(name, {"reason": "r", key: {"sku": "A-1", "n": [1, None]}})
        assert fits(name, {"reason": "r", key: None})
        assert not fits(name, {"reason": "r", key: ["not", "an", "object"]})
        assert not fits(name, {"reason": "r", key: {"k": "nul\x00"}})
