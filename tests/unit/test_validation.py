"""django_saga.validation: odd values are refused up front, named, and write nothing.

Each test here stands for a way a caller used to corrupt or crash a saga:
infinite or huge timeouts that overflowed inside a step's transaction, JSON
nested deeper than the interpreter's stack, names and NUL characters that
PostgreSQL refuses (SQLite stores them, so both databases run these tests),
and contexts of any size.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest

from django_saga import NotJSONSerializableError, SagaDefinitionError, Step, manager
from tests.unit.helpers import ONE_STEP, assert_nothing_recorded

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({1, 2}, "set is not JSON serializable"),
        (object(), "object is not JSON serializable"),
        (float("nan"), "Out of range float values"),
        (float("inf"), "Out of range float values"),
    ],
    ids=["set", "object", "nan", "inf"],
)
def test_non_json_step_input_is_refused_naming_the_step(value, why):
    with pytest.raises(NotJSONSerializableError) as info:
        manager.start(
            "order",
            [Step("a", "test.record"), Step("b", "test.record", "", {"nested": {"v": value}})],
        )
    assert isinstance(info.value, SagaDefinitionError)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert message.startswith("Step 'b' input is not JSON-serializable")
    assert why in message
    assert_nothing_recorded()


@pytest.mark.parametrize("value", [{1, 2}, object(), float("nan")], ids=["set", "object", "nan"])
def test_non_json_context_is_refused(value):
    with pytest.raises(SagaDefinitionError) as info:
        manager.start("order", ONE_STEP, context={"k": value})
    assert isinstance(info.value, NotJSONSerializableError)
    assert str(info.value).startswith("Context of saga 'order' is not JSON-serializable")
    assert_nothing_recorded()


def test_django_json_encoder_values_are_accepted_and_read_back_as_strings():
    when = datetime.datetime(2024, 5, 17, 12, 30, 15, 250000, tzinfo=datetime.UTC)
    day = datetime.date(2024, 5, 17)
    amount = decimal.Decimal("19.90")
    token = uuid.UUID("12345678-1234-5678-1234-567812345678")
    saga = manager.start(
        "order",
        [
            Step(
                "a", "test.record", "", {"when": when, "amount": amount, "token": token, "day": day}
            )
        ],
        context={"amount": amount, "token": token},
    )
    expected_input = {
        "when": "2024-05-17T12:30:15.250Z",
        "amount": "19.90",
        "token": "12345678-1234-5678-1234-567812345678",
        "day": "2024-05-17",
    }
    expected_context = {"amount": "19.90", "token": "12345678-1234-5678-1234-567812345678"}
    # The instance start() returns already holds plain JSON values ...
    assert saga.step("a").input == expected_input
    assert saga.context == expected_context
    # ... and so does what the store reads back.
    loaded = manager.get(saga.id)
    assert loaded.step("a").input == expected_input
    assert loaded.context == expected_context


def test_a_nul_character_is_refused_but_a_literal_backslash_u0000_is_not():
    with pytest.raises(NotJSONSerializableError, match="Step 'a' input holds a NUL character"):
        manager.start("order", [Step("a", "test.record", "", {"text": "x\x00y"})])
    saga = manager.start("order", [Step("a", "test.record", "", {"text": "\\u0000"})])
    assert manager.get(saga.id).step("a").input == {"text": "\\u0000"}
