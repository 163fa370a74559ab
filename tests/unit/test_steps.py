"""django_saga.steps: the step language a caller hands to ``manager.start()``.

A step list is checked before anything is written: each refusal names the
step, and a refused start records nothing.
"""

from __future__ import annotations

import re

import pytest

from django_saga import SagaDefinitionError, Step, manager, parallel
from django_saga.steps import BaseDefinition, normalise_steps
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


def laid_out(declared) -> list[tuple[int, str]]:
    return [(staged.stage, staged.step.name) for staged in normalise_steps(declared)]


class Payment(BaseDefinition):
    name = "payment"

    def steps(self):
        return [
            Step("authorise", "test.record", "test.undo", {"amount": self.params["amount"]}),
            parallel(Step("capture", "test.record"), Step("receipt", "test.record")),
        ]


class Loop(BaseDefinition):
    def steps(self):
        return [Step("a", "test.record"), Loop()]


def test_a_plain_step_is_a_stage_of_its_own_and_parallel_makes_one_of_several():
    declared = [
        Step("a", "test.record"),
        parallel(Step("b", "test.record"), {"name": "c", "action": "test.record"}),
        Step("d", "test.record"),
    ]
    assert laid_out(declared) == [(0, "a"), (1, "b"), (1, "c"), (2, "d")]


def test_a_definition_in_the_list_is_spliced_in_place_with_its_stages():
    declared = [Step("order", "test.record"), Payment(amount="30.00"), Step("ship", "test.record")]
    staged = normalise_steps(declared)
    assert [(s.stage, s.step.name) for s in staged] == [
        (0, "order"),
        (1, "authorise"),
        (2, "capture"),
        (2, "receipt"),
        (3, "ship"),
    ]
    assert staged[1].step.input == {"amount": "30.00"}


def test_a_definition_that_includes_itself_is_refused():
    with pytest.raises(SagaDefinitionError, match="Loop includes itself"):
        normalise_steps([Loop()])


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ([parallel()], "parallel() needs at least one step"),
        ([parallel(Step("a", "x"), parallel(Step("b", "x")))], "stages cannot be nested"),
        ([parallel(Step("a", "x"), Payment(amount=1))], "parallel() takes steps only"),
    ],
    ids=["empty", "nested", "definition"],
)
def test_a_stage_holds_steps_only(declared, problem):
    with pytest.raises(SagaDefinitionError, match=re.escape(problem)):
        normalise_steps(declared)


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        (
            [Step("a", "x", pivot=True), Step("b", "x", pivot=True)],
            "at most one pivot step, got 2: 'a', 'b'",
        ),
        ([Step("a", "x", "undo", pivot=True)], "Pivot step 'a' declares compensation 'undo'"),
        (
            [parallel(Step("a", "x", pivot=True), Step("b", "x"))],
            "Pivot step 'a' shares its parallel stage with 'b'",
        ),
        (
            [Step("a", "x", pivot=True), Step("b", "x", "undo")],
            "Step 'b' comes after pivot step 'a' and declares compensation 'undo'",
        ),
        ([Step("a", "x", pivot="yes")], r"Step #1 \('a'\) pivot must be True or False"),
    ],
    ids=["two", "compensated", "in-a-stage", "compensation-after", "not-a-bool"],
)
def test_a_pivot_whose_compensations_could_never_run_is_refused(declared, problem):
    with pytest.raises(SagaDefinitionError, match=problem):
        normalise_steps(declared)


def test_a_pivot_alone_with_compensations_before_it_is_accepted():
    declared = [Step("reserve", "x", "release"), Step("charge", "x", pivot=True), Step("ship", "x")]
    assert [s.step.pivot for s in normalise_steps(declared)] == [False, True, False]


def test_a_definition_names_its_sagas_and_its_path_and_gives_its_params_as_context():
    payment = Payment(amount="30.00")
    assert (Payment.saga_name(), Loop.saga_name()) == ("payment", "Loop")
    assert Payment.path() == f"{__name__}.Payment"
    assert (dict(payment.context()), payment.key(), Payment.version) == ({"amount": "30.00"}, "", 1)
    with pytest.raises(NotImplementedError, match="BaseDefinition must define steps"):
        BaseDefinition().steps()
