"""Bounded inputs: odd values are refused up front, named, and write nothing.

Each test here stands for a way a caller used to corrupt or crash a saga:
infinite or huge timeouts that overflowed inside a step's transaction, JSON
nested deeper than the interpreter's stack, names and NUL characters that
PostgreSQL refuses (SQLite stores them, so both databases run these tests),
and contexts of any size.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from django_saga import (
    Pending,
    RetryPolicy,
    SagaDefinitionError,
    SagaNotFound,
    Skip,
    Step,
    actions,
    manager,
    validation,
)
from django_saga.clock import MAX_SECONDS, later
from django_saga.errors import LimitExceeded, NotJSONSerializableError
from django_saga.models import Intervention, OutboxMessage, Saga, SagaStep
from django_saga.processor import DEAD_LETTER, Processor
from django_saga.registry import HandlerRegistry
from django_saga.stores import get_store
from django_saga.validation import ERROR_MAX_CHARS
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.test_views import logged_in, make_user

pytestmark = pytest.mark.django_db

HUGE = [math.inf, -math.inf, math.nan, 1e12, MAX_SECONDS + 1, 0, -5]


def nothing_recorded() -> bool:
    return not (
        Saga.objects.exists() or SagaStep.objects.exists() or OutboxMessage.objects.exists()
    )


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# -- finding 1: timeouts and deadlines ------------------------------------------
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


@pytest.mark.parametrize("timeout", HUGE)
def test_pending_refuses_a_timeout_it_could_not_schedule(timeout):
    with pytest.raises(SagaDefinitionError, match="Pending timeout"):
        Pending({"ref": "x"}, timeout=timeout)


@pytest.mark.parametrize("timeout", [math.inf, math.nan, 1e12])
def test_a_handler_cannot_be_registered_with_an_unschedulable_timeout(timeout):
    with pytest.raises(SagaDefinitionError, match="timeout for 'pay'"):
        HandlerRegistry().register("execute", "pay", lambda saga, step: {}, timeout=timeout)


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


def test_scheduled_times_are_clamped_instead_of_overflowing():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ceiling = start + timedelta(seconds=MAX_SECONDS)
    assert later(1e12, start) == ceiling
    assert later(math.inf, start) == ceiling
    assert later(math.nan, start) == start
    assert later(-5, start) == start
    assert later(60, start) == start + timedelta(minutes=1)


def test_many_retries_never_overflow_the_backoff():
    policy = RetryPolicy(max_attempts=5000, backoff=1.0, multiplier=2.0, max_delay=300, jitter=0)
    assert policy.delay(2000) == 300


@pytest.mark.django_db(transaction=True)
def test_a_stored_huge_timeout_does_not_fail_the_step_that_ran_before_it(run_engine):
    """A row written before the checks existed: the step before it must still complete.

    Computing the next step's timeout used to overflow in the unit that
    records the finished step, so that step ran again and ended ``failed``.
    """
    saga = manager.start(
        "order",
        [Step("a", "test.record", "test.undo"), Step("b", "test.record", timeout=5)],
    )
    SagaStep.objects.filter(saga_id=saga.id, name="b").update(timeout=1e12)
    run_engine()
    done = wait_terminal(saga.id)
    assert done.state == "completed"
    assert [s.attempts for s in done.steps] == [1, 1]
    assert list(Ledger.objects.order_by("id").values_list("action", flat=True)) == [
        "do:a",
        "do:b",
    ]


# -- finding 2: deep JSON ---------------------------------------------------------
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


def test_a_message_nested_20000_deep_is_dead_lettered_as_malformed():
    body = b"[" * 20_000 + b"]" * 20_000
    result = Processor(get_store()).process(body)
    assert result.action == DEAD_LETTER
    assert "malformed message" in result.reason and "nested too deep" in result.reason


def test_a_message_with_a_deep_field_is_dead_lettered_with_a_short_reason():
    body = json.dumps(
        {"v": 1, "kind": nested(500), "saga_id": "s", "step_id": "t", "attempt": 1}
    ).encode()
    result = Processor(get_store()).process(body)
    assert result.action == DEAD_LETTER
    assert result.reason == (
        "malformed message: unknown kind a list (expected one of execute, compensate)"
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"v": 1, "kind": "execute", "saga_id": "s\\u0000", "step_id": "t", "attempt": 1}',
        b'{"v": 1, "kind": "execute", "saga_id": "s", "step_id": "t", "attempt": 1e400}',
        b'{"v": 1, "kind": "execute", "saga_id": "s", "step_id": "t", "attempt": '
        + b"9" * 5000
        + b"}",
    ],
    ids=["nul-in-id", "float-overflow", "5000-digit-int"],
)
def test_odd_but_parseable_messages_are_dead_lettered(body):
    result = Processor(get_store()).process(body)
    assert result.action == DEAD_LETTER
    assert result.reason.startswith("malformed message")


# -- finding 3: what PostgreSQL refuses, refused on every database -------------------
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


def test_a_definitions_version_that_does_not_fit_is_refused():
    from django_saga import SagaDefinition

    class Versioned(SagaDefinition):
        name = "versioned"
        version = "v" * 51

        def steps(self):
            return [Step("a", "test.record")]

    with pytest.raises(LimitExceeded, match="definition's version"):
        Versioned().start()
    assert nothing_recorded()


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


@pytest.mark.parametrize("saga_id", ["a\x00b", "x" * 27, "", None, 7])
def test_an_id_no_saga_can_have_is_simply_not_found(saga_id):
    with pytest.raises(SagaNotFound):
        manager.get(saga_id)
    with pytest.raises(SagaNotFound):
        manager.compensate(saga_id)
    with pytest.raises(SagaNotFound):
        manager.complete_step(saga_id, "pay")


@pytest.mark.parametrize("path", ["/sagas/%00/", "/sagas/api/sagas/%00/", "/sagas/%00/compensate/"])
def test_a_nul_in_a_console_url_is_a_404_not_a_server_error(client, path):
    user = get_user_model().objects.create_superuser("root", password="pw")
    client.force_login(user)
    response = client.post(path) if path.endswith("compensate/") else client.get(path)
    assert response.status_code == 404


def test_skip_reasons_are_checked_where_they_are_made():
    with pytest.raises(SagaDefinitionError, match="Skip reason"):
        Skip("off\x00")
    assert Skip("feature off").reason == "feature off"


# -- finding 9: size ------------------------------------------------------------------
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
    from django_saga.processor import _output

    step = SagaStep(name="a", action="test.record")
    with pytest.raises(LimitExceeded, match="output of step 'a' is"):
        _output({"blob": "x" * 300_000}, step)


def test_register_step_handler_accepts_a_bounded_timeout():
    registry = HandlerRegistry()
    registry.register("execute", "pay", lambda saga, step: {}, timeout=3600)
    assert registry.spec("execute", "pay").timeout == 3600


# -- round two, finding 7: an age far in the past ----------------------------------------
@pytest.mark.parametrize("text", ["999999d", "5300w", "3162240001s", "9" * 400 + "d"])
def test_an_age_past_the_limit_is_refused_naming_the_field(text):
    with pytest.raises(LimitExceeded, match=r"^older_than .* is over the limit of 36,600 days"):
        validation.age(text, "older_than")
    assert validation.age("36600d", "older_than") == timedelta(days=36600)


def test_a_redrive_older_than_a_million_days_gets_400_naming_the_field(django_user_model):
    from tests.unit.test_console_repair import EVERYTHING, halted_saga, post_json

    halted_saga()
    client = logged_in(make_user(django_user_model, *EVERYTHING))
    body = {"rate": 1, "reason": "fixed", "older_than": "999999d"}
    response = post_json(client, reverse("django_saga:api-redrive"), body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("older_than '999999d' is over the limit")
    assert not Intervention.objects.exists()


@pytest.mark.parametrize(
    "command",
    [
        ("saga_purge", "--older-than", "999999d"),
        ("saga", "list", "--older-than", "999999d"),
        ("saga", "redrive", "--rate", "1/s", "--older-than", "999999d", "--reason", "r"),
    ],
    ids=["saga_purge", "saga-list", "saga-redrive"],
)
def test_commands_refuse_an_age_far_in_the_past_naming_the_option(command):
    with pytest.raises(CommandError, match="--older-than '999999d' is over the limit"):
        call_command(*command)


def test_a_redrive_selection_refuses_an_age_no_clock_can_subtract():
    with pytest.raises(LimitExceeded, match="older_than"):
        actions.select(older_than=timedelta(days=999999))


# -- round two, finding 3: a re-drive's rate -------------------------------------------
def test_a_rate_too_slow_to_schedule_is_refused_before_any_saga_is_retried():
    from tests.unit.test_console_repair import halted_saga

    sagas = [halted_saga(), halted_saga()]
    for rate in (1e-15, 5e-324, 1 / (MAX_SECONDS * 2)):
        with pytest.raises(LimitExceeded, match=r"^rate must be at least 3.16e-08 sagas a second"):
            manager.redrive([saga.pk for saga in sagas], rate=rate, reason="fixed")
    assert not Intervention.objects.exists()
    assert {saga.state for saga in Saga.objects.all()} == {"halted"}


def test_a_redrive_whose_last_saga_would_be_sent_past_the_limit_is_refused_whole():
    from tests.unit.test_console_repair import halted_saga

    ids = [halted_saga().pk for _ in range(3)]
    too_slow = 1.9 / MAX_SECONDS  # the third saga would go out after 385 days
    with pytest.raises(LimitExceeded, match=r"^rate .* would send the last of 3 sagas 385 days"):
        manager.redrive(iter(ids), rate=too_slow, reason="fixed")
    assert not Intervention.objects.exists()
    redrive = manager.redrive(iter(ids), rate=2.01 / MAX_SECONDS, reason="fixed")
    assert len(redrive.scheduled) == 3
    assert timedelta(days=364) < redrive.last_at - redrive.first_at <= timedelta(days=366)


def test_every_door_refuses_a_rate_too_slow_naming_it(django_user_model):
    from django_saga.console.forms import RateForm
    from django_saga.management.commands.saga import parse_rate
    from tests.unit.test_console_repair import EVERYTHING, halted_saga, post_json

    halted_saga()
    client = logged_in(make_user(django_user_model, *EVERYTHING))
    body = {"rate": 1e-15, "reason": "fixed"}
    response = post_json(client, reverse("django_saga:api-redrive"), body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("rate must be at least")
    form = RateForm({"rate": "1e-15", "reason": "fixed"})
    assert not form.is_valid() and "at least" in form.errors["rate"][0]
    with pytest.raises(CommandError, match=r"--rate '0\.00000001/h'.*at least"):
        parse_rate("0.00000001/h")
    assert not Intervention.objects.exists()


# -- round two, finding 5: lone surrogates ------------------------------------------------
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
    from tests.unit.test_console_repair import halted_saga

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
