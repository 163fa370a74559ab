"""django_saga.outcomes: what a step handler may return besides its output."""

from __future__ import annotations

import pytest

from django_saga import LimitExceeded, Pending, SagaDefinitionError, Skip, Step
from django_saga.testing import SagaTestKit
from django_saga.validation import ERROR_MAX_CHARS
from tests.unit.helpers import HUGE


@pytest.mark.parametrize("timeout", HUGE)
def test_pending_refuses_a_timeout_it_could_not_schedule(timeout):
    with pytest.raises(SagaDefinitionError, match="Pending timeout"):
        Pending({"ref": "x"}, timeout=timeout)


def test_skip_reasons_are_checked_where_they_are_made():
    with pytest.raises(SagaDefinitionError, match="Skip reason"):
        Skip("off\x00")
    assert Skip("feature off").reason == "feature off"


def test_pending_keeps_its_output_and_a_bounded_timeout():
    waiting = Pending({"ref": "ext-1"}, timeout=3600)
    assert (dict(waiting.output), waiting.timeout) == ({"ref": "ext-1"}, 3600)
    assert (dict(Pending().output), Pending().timeout) == ({}, None)


@pytest.mark.parametrize("output", [["ref"], "ext-1", None], ids=repr)
def test_pending_output_must_be_a_dict(output):
    with pytest.raises(SagaDefinitionError, match="Pending output must be a dict"):
        Pending(output)


def test_a_skip_reason_is_prose_no_longer_than_an_error():
    assert Skip("off for\tthis shop,\r\nsee ticket 7").reason.endswith("ticket 7")
    with pytest.raises(
        SagaDefinitionError, match=r"Skip reason holds a control character \(\\x1b\)"
    ):
        Skip("\x1b[2Jgone")
    with pytest.raises(LimitExceeded, match="Skip reason is 4001 characters long"):
        Skip("x" * (ERROR_MAX_CHARS + 1))


# -- what the clock does when a wait runs out ----------------------------------------------
def test_on_timeout_is_one_of_three_and_its_output_goes_with_complete():
    assert Pending(timeout=60).on_timeout == "retry"
    with pytest.raises(SagaDefinitionError, match="on_timeout must be one of 'retry', 'fail'"):
        Pending(timeout=60, on_timeout="ignore")
    with pytest.raises(SagaDefinitionError, match="needs on_timeout='complete', not 'fail'"):
        Pending(timeout=60, on_timeout="fail", timeout_output={"answer": "yes"})
    with pytest.raises(SagaDefinitionError, match="timeout_output must be a dict"):
        Pending(timeout=60, on_timeout="complete", timeout_output=["yes"])


def test_a_timeout_output_that_is_not_json_fails_the_attempt_that_returned_it():
    with pytest.raises(SagaDefinitionError, match="Pending timeout_output"):
        Pending(timeout=60, on_timeout="complete", timeout_output={"at": object()}).when_timed_out()


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


def waiting(kit, on_timeout: str, **more):
    saga = kit.start(
        "order",
        [
            Step("a", "test.record", "test.undo"),
            Step(
                "confirm",
                "test.pending_then",
                "test.undo",
                {"wait": 3600, "on_timeout": on_timeout, **more},
            ),
            Step("ship", "test.record", ""),
        ],
    )
    assert kit.saga(saga).step("confirm").status == "waiting"
    return saga


@pytest.mark.django_db
def test_no_answer_in_time_completes_the_step_with_the_declared_output(kit):
    saga = waiting(kit, "complete", timeout_output={"confirmed": "by silence"})
    kit.advance(minutes=59)
    assert kit.saga(saga).step("confirm").status == "waiting"
    kit.advance(minutes=1)
    kit.assert_saga(saga, "completed", ran=["a", "confirm", "ship"], compensated=[])
    confirm = kit.saga(saga).step("confirm")
    assert confirm.output == {"ref": "ext-confirm", "confirmed": "by silence"}
    assert confirm.attempts == 1
    assert "completed as declared" in confirm.history[-1]["reason"]


@pytest.mark.django_db
def test_no_answer_in_time_fails_the_step_at_once_whatever_retries_are_left(kit):
    saga = waiting(kit, "fail")
    kit.advance(hours=1)
    kit.assert_saga(saga, "compensated", ran=["a"], compensated=["confirm", "a"])
    confirm = kit.saga(saga).step("confirm")
    assert confirm.attempts == 1  # its policy allows 3: none was used
    assert "no outside result for attempt 1 in time" in confirm.error


@pytest.mark.django_db
def test_by_default_a_wait_that_runs_out_is_an_attempt_that_failed(kit):
    saga = waiting(kit, "retry")
    kit.advance(hours=1, seconds=1)  # the retry comes 0.01 s after the timeout
    confirm = kit.saga(saga).step("confirm")
    assert confirm.status == "waiting" and confirm.attempts == 2  # tried again


@pytest.mark.django_db
def test_a_result_that_comes_in_time_wins_over_the_clock(kit):
    saga = waiting(kit, "complete", timeout_output={"confirmed": "by silence"})
    kit.complete_step(saga, "confirm", {"confirmed": "by the customer"})
    kit.advance(hours=2)
    confirm = kit.saga(saga).step("confirm")
    assert confirm.output["confirmed"] == "by the customer"
    kit.assert_saga(saga, "completed", ran=["a", "confirm", "ship"], compensated=[])


def test_a_fan_out_completes_its_step_with_the_list_under_items():
    from django_saga import FanOut

    assert FanOut([1, {"a": 2}], {"found": 2}).as_output() == {"found": 2, "items": [1, {"a": 2}]}
    assert FanOut(("x",)).as_output() == {"items": ["x"]}
    for items in ("abc", {"a": 1}, 7):
        with pytest.raises(SagaDefinitionError, match="FanOut items must be a list"):
            FanOut(items)  # type: ignore[arg-type]
    with pytest.raises(SagaDefinitionError, match="may not hold 'items'"):
        FanOut([], {"items": 1})
    with pytest.raises(SagaDefinitionError, match="output must be a dict"):
        FanOut([], [1])  # type: ignore[arg-type]
