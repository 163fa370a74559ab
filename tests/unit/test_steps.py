"""django_saga.steps: the step language a caller hands to ``manager.start()``.

A step list is checked before anything is written: each refusal names the
step, and a refused start records nothing.
"""

from __future__ import annotations

import pytest

from django_saga import SagaDefinitionError, Step, manager
from tests.unit.helpers import assert_nothing_recorded

pytestmark = pytest.mark.django_db


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
