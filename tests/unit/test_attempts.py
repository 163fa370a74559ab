"""An attempt's result, checked and recorded, for either kind of attempt."""

from __future__ import annotations

import math

import pytest

from django_saga import flow
from django_saga.attempts import (
    COMPENSATION,
    EXECUTION,
    attempt_kind,
    describe,
    output_of,
    resumed_at,
)
from django_saga.errors import NotJSONSerializableError
from django_saga.messages import COMPENSATE, EXECUTE
from django_saga.models import SagaStep
from django_saga.outcomes import Pending


def a_step(**fields) -> SagaStep:
    return SagaStep(name="charge", action="payment.charge", compensation="payment.refund", **fields)


def test_a_message_kind_names_its_attempt_kind():
    assert attempt_kind(EXECUTE) is EXECUTION
    assert attempt_kind(COMPENSATE) is COMPENSATION
    step = a_step(attempts=3, compensation_attempts=1)
    assert (EXECUTION.action(step), EXECUTION.attempt(step)) == ("payment.charge", 3)
    assert (COMPENSATION.action(step), COMPENSATION.attempt(step)) == ("payment.refund", 1)


def test_the_output_is_what_the_handler_returned_or_set_on_the_step():
    assert output_of({"charge": "ch_1"}, a_step()) == {"charge": "ch_1"}
    assert output_of(None, a_step(output={"set": True})) == {"set": True}
    assert output_of(Pending(output={"ref": "ext-1"}), a_step()) == {"ref": "ext-1"}


def test_a_result_that_is_not_a_json_object_names_the_action_and_what_to_return():
    with pytest.raises(TypeError, match=r"'payment\.charge' returned list; return a dict"):
        output_of(["ch_1"], a_step())
    with pytest.raises(TypeError, match="output of step 'charge'"):
        output_of({"when": object()}, a_step())


def test_a_value_no_database_stores_is_refused_as_it_is():
    with pytest.raises(NotJSONSerializableError):
        output_of({"amount": math.nan}, a_step())


def test_an_error_is_described_by_its_type_even_when_its_message_cannot_be_read():
    class Unreadable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert describe(ValueError("declined")) == "ValueError: declined"
    assert describe(Unreadable()) == "Unreadable: (its message could not be read)"
    assert describe(ValueError("a\x00b")) == "ValueError: a\\x00b"


def test_the_retry_budget_starts_again_where_an_operator_last_retried():
    step = a_step(attempts=5)
    assert resumed_at(step, EXECUTE) == 0
    flow.record(step, EXECUTE, 2, flow.RESUMED)
    flow.record(step, EXECUTE, 4, flow.RESUMED)
    flow.record(step, COMPENSATE, 1, flow.RESUMED)
    assert resumed_at(step, EXECUTE) == 4
    assert resumed_at(step, COMPENSATE) == 1
