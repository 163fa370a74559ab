"""django_saga.validation: odd values are refused up front, named, and write nothing.

Each test here stands for a way a caller used to corrupt or crash a saga:
infinite or huge timeouts that overflowed inside a step's transaction, JSON
nested deeper than the interpreter's stack, names and NUL characters that
PostgreSQL refuses (SQLite stores them, so both databases run these tests),
contexts of any size, and names, keys, actions and reasons holding what would
steer the terminal or page that shows them.
"""

from __future__ import annotations

import decimal
import math
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from django_saga import (
    NotJSONSerializableError,
    SagaDefinitionError,
    Skip,
    Step,
    manager,
    validation,
)
from django_saga.clock import MAX_SECONDS
from django_saga.errors import LimitExceeded
from django_saga.models import Intervention, Saga, SagaStep
from django_saga.processor import Processor
from django_saga.registry import HandlerRegistry
from django_saga.stores import get_store
from django_saga.validation import ERROR_MAX_CHARS
from tests.helpers import wait_terminal
from tests.unit.console.helpers import build_saga
from tests.unit.helpers import (
    HUGE,
    ONE_STEP,
    STEERING,
    assert_nothing_recorded,
    nested,
    nothing_recorded,
)

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
    when = datetime(2024, 5, 17, 12, 30, 15, 250000, tzinfo=UTC)
    day = date(2024, 5, 17)
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


@pytest.mark.parametrize("timeout", HUGE)
def test_a_later_steps_timeout_must_be_finite_positive_and_bounded(timeout):
    with pytest.raises(SagaDefinitionError, match=r"Step #2 \('b'\) timeout") as info:
        manager.start(
            "order", [Step("a", "test.record"), Step("b", "test.record", timeout=timeout)]
        )
    if timeout == 1e12 or timeout == MAX_SECONDS + 1:
        assert isinstance(info.value, LimitExceeded)
        assert "366 days" in str(info.value)
    assert nothing_recorded()


@pytest.mark.parametrize(
    "deadline",
    [
        math.inf,
        math.nan,
        1e12,
        -1,
        timedelta(days=10_000),
        timedelta(0),
        datetime(2020, 1, 1),  # naive: which zone?
        datetime.now(UTC) + timedelta(days=400),
        "tomorrow",
    ],
    ids=["inf", "nan", "1e12", "negative", "10000-days", "zero", "naive", "400-days-ahead", "str"],
)
def test_a_deadline_must_be_a_bounded_time_or_span(deadline):
    with pytest.raises(SagaDefinitionError, match="deadline"):
        manager.start("order", [Step("a", "test.record")], deadline=deadline)
    assert nothing_recorded()


def test_a_deadline_within_the_limit_is_kept():
    saga = manager.start("order", [Step("a", "test.record")], deadline=timedelta(days=30))
    assert saga.deadline_at is not None
    assert timedelta(days=29) < saga.deadline_at - datetime.now(UTC) <= timedelta(days=30)


def test_a_context_nested_too_deep_is_a_definition_error_not_a_recursion_error():
    with pytest.raises(LimitExceeded, match="nested more than 32 levels") as info:
        manager.start("order", [Step("a", "test.record")], context={"x": nested(1000)})
    assert "Context of saga 'order'" in str(info.value)
    assert nothing_recorded()


def test_json_depth_is_limited_by_its_setting(settings):
    # {"x": [[...]]}: the context's object plus 31 lists is 32 levels.
    manager.start("order", [Step("a", "test.record", input={"x": nested(31)})])
    with pytest.raises(LimitExceeded, match="Step 'a' input is nested more than 32"):
        manager.start("order", [Step("a", "test.record", input={"x": nested(32)})])
    settings.SAGA = {**settings.SAGA, "MAX_JSON_DEPTH": 40}
    manager.start("order", [Step("a", "test.record", input={"x": nested(32)})])
    assert Saga.objects.count() == 2


def test_a_value_that_contains_itself_is_refused():
    loop: list = []
    loop.append(loop)
    with pytest.raises(NotJSONSerializableError, match="contains itself"):
        manager.start("order", [Step("a", "test.record")], context={"loop": loop})


def test_a_value_sharing_one_list_a_billion_times_is_refused_quickly():
    value: list = []
    for _ in range(30):
        value = [value, value]  # 2**30 nodes once expanded
    with pytest.raises(LimitExceeded, match="MAX_JSON_BYTES"):
        manager.start("order", [Step("a", "test.record")], context={"v": value})


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda v: manager.start(v, [Step("a", "test.record")]), "saga's name"),
        (lambda v: manager.start("o", [Step(v, "test.record")]), "Step #1 name"),
        (lambda v: manager.start("o", [Step("a", v)]), "Step #1 ('a') action"),
        (lambda v: manager.start("o", [Step("a", "test.record", v)]), "('a') compensation"),
    ],
    ids=["saga-name", "step-name", "action", "compensation"],
)
@pytest.mark.parametrize(
    ("value", "problem"),
    [("n" * 201, "201 characters long, over the limit of 200"), ("a\x00b", "NUL character")],
    ids=["201-chars", "nul"],
)
def test_names_that_a_column_cannot_hold_are_refused(build, field, value, problem, settings):
    settings.SAGA = {**settings.SAGA, "CHECK_HANDLERS_ON_START": False}
    with pytest.raises(SagaDefinitionError, match=problem) as info:
        build(value)
    assert field in str(info.value)
    assert nothing_recorded()


def test_names_of_exactly_the_column_length_are_stored(settings):
    settings.SAGA = {**settings.SAGA, "CHECK_HANDLERS_ON_START": False}
    name = "n" * 200
    saga = manager.start(name, [Step(name, name, name)])
    stored = SagaStep.objects.get(saga_id=saga.id)
    assert (stored.saga.name, stored.name, stored.action, stored.compensation) == (name,) * 4


def test_an_outside_error_holding_nul_is_refused_and_changes_nothing():
    from tests.factories import SagaFactory, SagaStepFactory

    step = SagaStepFactory(saga=SagaFactory(), position=0, name="pay", waiting=True)
    with pytest.raises(SagaDefinitionError, match="error holds a NUL character"):
        manager.fail_step(step.saga_id, "pay", "declined\x00")
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"


@pytest.mark.django_db(transaction=True)
def test_a_handler_error_no_column_takes_is_recorded_made_storable(run_engine):
    """PostgreSQL refuses NUL in text: the failure used to be lost with the step stuck."""
    saga = manager.start(
        "order", [Step("a", "test.record", "test.undo"), Step("b", "test.fail_oddly")]
    )
    run_engine()
    done = wait_terminal(saga.id)
    assert done.state == "compensated"
    error = done.step("b").error
    assert error.startswith("ValueError: nul \\x00 here")
    assert "\x00" not in error
    assert len(error) < ERROR_MAX_CHARS + 100 and error.endswith("more characters cut)")
    assert done.step("a").status == "compensated"


def test_a_5_mib_context_is_refused_naming_the_limit(settings):
    context = {"blob": "x" * (5 * 1024 * 1024)}
    with pytest.raises(
        LimitExceeded, match=r"over the limit of 262144 \(SAGA\['MAX_JSON_BYTES'\]\)"
    ):
        manager.start("order", [Step("a", "test.record")], context=context)
    assert nothing_recorded()
    settings.SAGA = {**settings.SAGA, "MAX_JSON_BYTES": 8 * 1024 * 1024}
    saga = manager.start("order", [Step("a", "test.record")], context=context)
    assert len(Saga.objects.get(pk=saga.id).context["blob"]) == 5 * 1024 * 1024


def test_an_output_over_the_limit_fails_the_attempt_with_a_named_error():
    """What a handler returns is bounded too; the attempt fails, naming the limit."""
    from django_saga.attempts import output_of as _output

    step = SagaStep(name="a", action="test.record")
    with pytest.raises(LimitExceeded, match="output of step 'a' is"):
        _output({"blob": "x" * 300_000}, step)


@pytest.mark.parametrize("text", ["999999d", "5300w", "3162240001s", "9" * 400 + "d"])
def test_an_age_past_the_limit_is_refused_naming_the_field(text):
    with pytest.raises(LimitExceeded, match=r"^older_than .* is over the limit of 36,600 days"):
        validation.age(text, "older_than")
    assert validation.age("36600d", "older_than") == timedelta(days=36600)


# A lone surrogate is no character: UTF-8 cannot encode it, so PostgreSQL cannot
# store it. JSON's "\ud800" escape and Python's surrogateescape both make one.
LONE = "\ud800"


@pytest.mark.parametrize(
    ("start", "field"),
    [
        (lambda: manager.start(f"order{LONE}", [Step("a", "test.record")]), "saga's name"),
        (lambda: manager.start("order", [Step("a", "test.record")], key=LONE), "The key"),
        (
            lambda: manager.start("order", [Step("a", "test.record")], context={"x": LONE}),
            "Context of saga 'order'",
        ),
        (
            lambda: manager.start("order", [Step("a", "test.record")], context={LONE: 1}),
            "Context of saga 'order'",
        ),
        (
            lambda: manager.start("order", [Step("a", "test.record", input={"x": [f"caf{LONE}"]})]),
            "Step 'a' input",
        ),
        (lambda: manager.start("order", [Step(f"a{LONE}", "test.record")]), "Step #1 name"),
        (lambda: manager.start("order", [Step("a", f"test.{LONE}")]), "action"),
    ],
    ids=["name", "key", "context", "context-key", "step-input", "step-name", "action"],
)
def test_a_lone_surrogate_is_refused_naming_the_field_and_writes_nothing(start, field):
    with pytest.raises(SagaDefinitionError, match="lone surrogate") as refused:
        start()
    assert field in str(refused.value)
    assert "\\ud800" in str(refused.value)
    assert nothing_recorded()


def test_an_outside_result_holding_a_lone_surrogate_is_refused_and_changes_nothing():
    from tests.factories import SagaFactory, SagaStepFactory

    step = SagaStepFactory(saga=SagaFactory(), position=0, name="pay", waiting=True)
    with pytest.raises(SagaDefinitionError, match=r"^output holds a lone surrogate"):
        manager.complete_step(step.saga_id, "pay", {"receipt": LONE})
    with pytest.raises(SagaDefinitionError, match=r"^error holds a lone surrogate"):
        manager.fail_step(step.saga_id, "pay", f"declined {LONE}")
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"
    with pytest.raises(SagaDefinitionError, match=r"^The key holds a lone surrogate"):
        manager.find("order", f"order-{LONE}")


def test_an_operators_values_holding_a_lone_surrogate_are_refused():
    from tests.unit.console.helpers import halted_saga

    saga = halted_saga()
    with pytest.raises(SagaDefinitionError, match="lone surrogate"):
        manager.retry_step(saga.pk, "ship", {"parcel": LONE}, reason="fixed")
    with pytest.raises(SagaDefinitionError, match="lone surrogate"):
        manager.skip_step(saga.pk, "ship", {"sent": LONE}, reason="fixed")
    with pytest.raises(SagaDefinitionError, match=r"^reason holds a lone surrogate"):
        manager.retry_step(saga.pk, "ship", reason=f"fixed {LONE}")
    with pytest.raises(SagaDefinitionError, match=r"^by \(who acts\) holds a lone surrogate"):
        manager.retry_step(saga.pk, "ship", reason="fixed", by=f"op{LONE}")
    assert not Intervention.objects.exists()
    assert Saga.objects.get(pk=saga.pk).state == "halted"


def one_message(saga, name: str) -> bytes:
    from django_saga.messages import EXECUTE, StepMessage

    return StepMessage(EXECUTE, saga.id, saga.step(name).id, 1).encode().encode()


@pytest.mark.parametrize("pivot", [False, True], ids=["before-the-pivot", "past-the-pivot"])
def test_a_handlers_output_holding_a_lone_surrogate_fails_its_step_once(settings, pivot):
    """Not stored, so never an engine error; not retried, since no retry mends it."""
    settings.SAGA = {**settings.SAGA, "CHECK_HANDLERS_ON_START": False}
    runs: list[str] = []
    handlers = HandlerRegistry()
    handlers.register("execute", "ok", lambda saga, step: {})
    handlers.register("execute", "odd", lambda saga, step: runs.append(step.name) or {"n": LONE})
    saga = manager.start("order", [Step("a", "ok", pivot=pivot), Step("b", "odd")])
    processor = Processor(get_store(), handlers)
    processor.process(one_message(saga, "a"))
    processor.process(one_message(saga, "b"))
    step = manager.get(saga.id).step("b")
    assert runs == ["b"]
    assert step.status == "failed"
    assert step.error.startswith("NotJSONSerializableError: output of step 'b' holds a lone")
    assert [(h["attempt"], h["outcome"]) for h in step.history] == [(1, "failed")]


def test_a_handler_exception_holding_a_lone_surrogate_is_recorded_escaped(settings):
    def raises(saga, step):
        raise ValueError(f"bad name {LONE}")

    settings.SAGA = {**settings.SAGA, "CHECK_HANDLERS_ON_START": False}
    handlers = HandlerRegistry()
    handlers.register("execute", "raises", raises)
    saga = manager.start("order", [Step("a", "raises")])
    Processor(get_store(), handlers).process(one_message(saga, "a"))
    step = manager.get(saga.id).step("a")
    assert step.status == "failed"
    assert step.error == "ValueError: bad name \\ud800"


# -- text shown to operators as it is: nothing that steers a terminal or a page ---
@pytest.mark.parametrize(("text", "named"), STEERING)
@pytest.mark.parametrize(
    ("field", "start"),
    [
        ("The saga's name", lambda t: manager.start(t, [Step("a", "test.record")])),
        ("The key", lambda t: manager.start("order", [Step("a", "test.record")], key=t)),
        ("Step #1 name", lambda t: manager.start("order", [Step(t, "test.record")])),
        ("action", lambda t: manager.start("order", [Step("a", t)])),
        ("compensation", lambda t: manager.start("order", [Step("a", "test.record", t)])),
    ],
)
def test_a_saga_is_refused_a_name_key_or_action_that_steers_a_terminal(field, start, text, named):
    with pytest.raises(SagaDefinitionError) as refused:
        start(text)
    assert field in str(refused.value)
    assert f"holds {named}" in str(refused.value)
    assert not Saga.objects.exists()


def test_a_reason_keeps_its_line_ends_and_refuses_escapes():
    saga = build_saga("failed")
    with pytest.raises(SagaDefinitionError, match=r"reason holds a control character \(\\x1b\)"):
        manager.compensate(saga.pk, by="clerk", reason="see\x1b[2J")
    with pytest.raises(SagaDefinitionError, match="Skip reason holds a bidirectional"):
        Skip("not \u202eapplicable")
    manager.compensate(saga.pk, by="clerk", reason="ticket 42:\r\n\tthe customer cancelled")
    [entry] = Intervention.objects.all()
    assert entry.reason == "ticket 42:\r\n\tthe customer cancelled"
