"""``manager.start()``: what it refuses, what it accepts, and what it records.

No engine runs here: start() must validate and record on its own, and return
without talking to the broker.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import pytest

from django_saga import (
    NotJSONSerializableError,
    SagaDefinitionError,
    Step,
    UnknownActionError,
    manager,
)
from django_saga.messages import decode
from django_saga.models import OutboxMessage, Saga, SagaStep
from tests.helpers import steps

pytestmark = pytest.mark.django_db

ONE_STEP = [Step("a", "test.record", "test.undo")]


def assert_nothing_recorded() -> None:
    assert not Saga.objects.exists()
    assert not SagaStep.objects.exists()
    assert not OutboxMessage.objects.exists()


# -- the saga itself ---------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", None, 42])
def test_saga_needs_a_non_empty_string_name(name):
    with pytest.raises(SagaDefinitionError, match="saga's name must be a non-empty string") as info:
        manager.start(name, ONE_STEP)
    assert repr(name) in str(info.value)
    assert_nothing_recorded()


@pytest.mark.parametrize("no_steps", [[], ()])
def test_saga_needs_at_least_one_step(no_steps):
    with pytest.raises(SagaDefinitionError, match="at least one step"):
        manager.start("order", no_steps)
    assert_nothing_recorded()


@pytest.mark.parametrize("not_a_list", ["a", {"name": "a", "action": "test.record"}, None, 3])
def test_steps_must_be_a_list(not_a_list):
    with pytest.raises(SagaDefinitionError, match="steps must be a list") as info:
        manager.start("order", not_a_list)
    assert type(not_a_list).__name__ in str(info.value)


def test_duplicate_step_names_are_refused_naming_the_step():
    with pytest.raises(SagaDefinitionError, match="Duplicate step name 'pay'"):
        manager.start(
            "order",
            [Step("pay", "test.record"), Step("ship", "test.record"), Step("pay", "test.record")],
        )
    assert_nothing_recorded()


# -- each step ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "action"])
@pytest.mark.parametrize("bad", ["", "  ", None])
def test_step_needs_a_non_empty_name_and_action(field, bad):
    good = {"name": "a", "action": "test.record"}
    second = Step(**{**good, "name": "b", field: bad})
    with pytest.raises(SagaDefinitionError) as info:
        manager.start("order", [Step(**good), second])
    message = str(info.value)
    # The message says which step (by position) and which field is wrong.
    assert f"Step #2 {field}" in message or f"Step #2 ('b') {field}" in message
    assert "must be a non-empty string" in message
    assert_nothing_recorded()


def test_compensation_must_be_a_string():
    with pytest.raises(SagaDefinitionError, match=r"Step #1 \('a'\) compensation") as info:
        manager.start("order", [Step("a", "test.record", None)])
    assert "None" in str(info.value)


def test_a_step_that_is_neither_step_nor_dict_is_refused():
    with pytest.raises(SagaDefinitionError, match=r"Step #2 must be a Step, got tuple"):
        manager.start("order", [Step("a", "test.record"), ("b", "test.record")])


@pytest.mark.parametrize("bad_input", [["a", "list"], "text", 7, None])
def test_step_input_must_be_a_dict(bad_input):
    with pytest.raises(SagaDefinitionError) as info:
        manager.start("order", [Step("a", "test.record"), Step("b", "test.record", "", bad_input)])
    assert str(info.value) == (f"Step 'b' input must be a dict, got {type(bad_input).__name__}")
    assert_nothing_recorded()


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


@pytest.mark.parametrize("context", [["a"], "text", 1])
def test_context_must_be_a_dict(context):
    with pytest.raises(SagaDefinitionError, match="context must be a dict") as info:
        manager.start("order", ONE_STEP, context=context)
    assert type(context).__name__ in str(info.value)


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


# -- handlers must exist --------------------------------------------------------


def test_unknown_action_is_refused_when_checking_handlers():
    with pytest.raises(UnknownActionError) as info:
        manager.start("order", [Step("a", "test.record"), Step("b", "nobody.home")])
    message = str(info.value)
    assert "Step 'b'" in message
    assert "'nobody.home'" in message
    assert "no step handler" in message
    assert isinstance(info.value, SagaDefinitionError)
    assert_nothing_recorded()


def test_unknown_compensation_is_refused_when_checking_handlers():
    with pytest.raises(UnknownActionError) as info:
        manager.start("order", [Step("a", "test.record", "nobody.undo")])
    message = str(info.value)
    assert "Step 'a'" in message
    assert "'nobody.undo'" in message
    assert "no compensation handler" in message
    assert_nothing_recorded()


def test_a_step_action_is_not_accepted_as_a_compensation():
    # "test.record" is a step handler, not a compensation handler.
    with pytest.raises(UnknownActionError, match=r"'test\.record'"):
        manager.start("order", [Step("a", "test.record", "test.record")])


def test_unknown_actions_are_accepted_when_the_check_is_off(settings):
    settings.SAGA = {**settings.SAGA, "CHECK_HANDLERS_ON_START": False}
    saga = manager.start("order", [Step("a", "nobody.home", "nobody.undo")])
    loaded = manager.get(saga.id)
    assert loaded.state == "started"
    assert loaded.step("a").action == "nobody.home"
    assert loaded.step("a").compensation == "nobody.undo"


# -- what start() records ---------------------------------------------------------


def test_steps_given_as_dicts_work():
    saga = manager.start(
        "order",
        [
            {"name": "a", "action": "test.record", "compensation": "test.undo", "input": {"n": 1}},
            {"name": "b", "action": "test.record"},
        ],
    )
    loaded = manager.get(saga.id)
    assert [(s.name, s.action, s.compensation, s.input) for s in loaded.steps] == [
        ("a", "test.record", "test.undo", {"n": 1}),
        ("b", "test.record", "", {}),
    ]


def test_dict_step_with_unknown_key_is_refused():
    with pytest.raises(SagaDefinitionError, match="Step #1 has unknown keys: 'compensate'"):
        manager.start("order", [{"name": "a", "action": "test.record", "compensate": "test.undo"}])


def test_dict_step_missing_action_is_refused():
    with pytest.raises(SagaDefinitionError, match=r"Step #1: .*action"):
        manager.start("order", [{"name": "a"}])


def test_start_records_the_saga_and_one_unsent_message_for_step_one():
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.record", "test.undo"),
            ("c", "test.record", ""),
        ),
        context={"tag": "t"},
    )
    loaded = manager.get(saga.id)
    assert loaded.name == "order"
    assert loaded.state == "started"
    assert loaded.context == {"tag": "t"}
    assert loaded.completed_at is None
    assert [s.name for s in loaded.steps] == ["a", "b", "c"]
    assert [s.position for s in loaded.steps] == [0, 1, 2]
    assert [s.status for s in loaded.steps] == ["started", "pending", "pending"]
    assert [s.attempts for s in loaded.steps] == [1, 0, 0]
    assert loaded.step("a").started_at is not None
    assert loaded.step("b").started_at is None

    rows = list(OutboxMessage.objects.all())
    assert len(rows) == 1
    row = rows[0]
    assert row.saga_id == saga.id
    assert row.kind == "execute"
    assert row.sent_at is None
    message = decode(row.body.encode(), 64 * 1024)
    assert (message.kind, message.saga_id, message.step_id, message.attempt) == (
        "execute",
        saga.id,
        loaded.step("a").id,
        1,
    )
    # A message start() wrote is due at once: the relay must not wait for a grace.
    assert manager.store.claim_due(10, 30)[0].id == row.id


def test_the_returned_saga_reflects_the_started_state():
    saga = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
    assert saga.state == "started"
    assert saga.step("a").status == "started"
    assert saga.step("a").attempts == 1
    assert saga.step("b").status == "pending"


def test_each_start_is_its_own_saga():
    first = manager.start("order", ONE_STEP)
    second = manager.start("order", ONE_STEP)
    assert first.id != second.id
    assert first.step("a").id != second.step("a").id
    assert OutboxMessage.objects.filter(saga_id=first.id).count() == 1
    assert OutboxMessage.objects.filter(saga_id=second.id).count() == 1


def test_the_outbox_body_is_compact_json_with_ids_only():
    saga = manager.start("order", [Step("a", "test.record", "", {"secret": "card-4242"})])
    body = OutboxMessage.objects.get().body
    # Messages carry references, never the step's data.
    assert "card-4242" not in body
    assert json.loads(body) == {
        "v": 1,
        "kind": "execute",
        "saga_id": saga.id,
        "step_id": saga.step("a").id,
        "attempt": 1,
    }


def test_a_nul_character_is_refused_but_a_literal_backslash_u0000_is_not():
    with pytest.raises(NotJSONSerializableError, match="Step 'a' input holds a NUL character"):
        manager.start("order", [Step("a", "test.record", "", {"text": "x\x00y"})])
    saga = manager.start("order", [Step("a", "test.record", "", {"text": "\\u0000"})])
    assert manager.get(saga.id).step("a").input == {"text": "\\u0000"}
