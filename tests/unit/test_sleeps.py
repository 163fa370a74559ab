"""django_saga.sleeps: a sleep step declared, and when it wakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_saga import LimitExceeded, SagaDefinitionError, Sleep, Step
from django_saga.models import SLEEP_ACTION, Saga, SagaStep
from django_saga.sleeps import check, wake_time

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def test_a_sleep_is_a_step_of_the_sleep_action_with_nothing_to_undo():
    assert Sleep("cool_off", timedelta(days=3)) == Step(
        "cool_off", SLEEP_ACTION, "", {"seconds": 259200.0}
    )
    assert Sleep("short", 90).input == {"seconds": 90.0}
    until = datetime(2027, 1, 1, tzinfo=UTC)
    assert Sleep("new_year", until=until).input == {"until": "2027-01-01T00:00:00+00:00"}
    assert Sleep("window", until="ship.window_ends").input == {"until_from": "ship.window_ends"}
    assert Sleep("grace", "context.grace_seconds").input == {
        "seconds_from": "context.grace_seconds"
    }


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "exactly one of them"),
        ((60,), {"until": datetime(2027, 1, 1, tzinfo=UTC)}, "exactly one of them"),
        ((0,), {}, "positive"),
        ((timedelta(days=400),), {}, "over the limit"),
        ((), {"until": datetime(2027, 1, 1)}, "timezone-aware"),
        ((), {"until": "tomorrow"}, "a reference like 'context.key'"),
        (("context.",), {}, "a reference like"),
    ],
    ids=["neither", "both", "zero", "too-long", "naive", "no-dot", "empty-part"],
)
def test_a_sleep_that_cannot_say_when_it_wakes_is_refused_where_it_is_written(
    args, kwargs, message
):
    with pytest.raises(SagaDefinitionError, match=message):
        Sleep("nap", *args, **kwargs)


def test_a_sleep_declared_by_hand_is_checked_before_the_saga_starts():
    check(Step("nap", SLEEP_ACTION, "", {"seconds": 5}))
    with pytest.raises(SagaDefinitionError, match="exactly one of seconds, until"):
        check(Step("nap", SLEEP_ACTION, "", {"minutes": 5}))
    with pytest.raises(SagaDefinitionError, match="exactly one of"):
        check(Step("nap", SLEEP_ACTION, "", {"seconds": 5, "until": "x"}))
    with pytest.raises(SagaDefinitionError, match="takes no compensation"):
        check(Step("nap", SLEEP_ACTION, "nap.undo", {"seconds": 5}))
    with pytest.raises(SagaDefinitionError, match="ISO 8601"):
        check(Step("nap", SLEEP_ACTION, "", {"until": "next tuesday"}))
    with pytest.raises(LimitExceeded):
        check(Step("nap", SLEEP_ACTION, "", {"seconds": 10**9}))


def saga_with(sleep: Step, context: dict | None = None, ship_output: dict | None = None):
    saga = Saga(name="order", context=context or {})
    ship = SagaStep(saga=saga, name="ship", action="test.record", output=ship_output or {})
    nap = SagaStep(
        saga=saga, name=sleep.name, action=sleep.action, input=dict(sleep.input), started_at=NOW
    )
    saga.set_steps([ship, nap])
    return saga, nap


def test_a_delay_counts_from_when_the_step_started():
    saga, nap = saga_with(Sleep("nap", timedelta(hours=2)))
    later = NOW + timedelta(minutes=5)  # its first message waited behind a backlog
    assert wake_time(saga, nap, later) == NOW + timedelta(hours=2)


def test_a_time_or_a_reference_is_read_when_the_step_starts():
    saga, nap = saga_with(Sleep("nap", until=NOW + timedelta(days=1)))
    assert wake_time(saga, nap, NOW) == NOW + timedelta(days=1)
    saga, nap = saga_with(Sleep("nap", "context.grace.seconds"), context={"grace": {"seconds": 30}})
    assert wake_time(saga, nap, NOW) == NOW + timedelta(seconds=30)
    ends = (NOW + timedelta(days=14)).isoformat()
    saga, nap = saga_with(Sleep("nap", until="ship.window_ends"), ship_output={"window_ends": ends})
    assert wake_time(saga, nap, NOW) == NOW + timedelta(days=14)


@pytest.mark.parametrize(
    ("sleep", "context", "message"),
    [
        (Sleep("nap", "context.grace"), {}, "the saga's context has no 'grace'"),
        (Sleep("nap", until="pack.done_by"), {}, "the saga has no step 'pack'"),
        (Sleep("nap", until="ship.window_ends"), {}, "the output of step 'ship' has no"),
        (Sleep("nap", "context.grace"), {"grace": "soon"}, "positive number of seconds"),
        (Sleep("nap", until="context.at"), {"at": "2027-01-01T00:00"}, "with its offset"),
        (Sleep("nap", until="context.at"), {"at": "2099-01-01T00:00Z"}, "366 days"),
    ],
    ids=["no-key", "no-step", "no-output", "not-seconds", "naive", "too-far"],
)
def test_a_reference_that_reads_nothing_usable_names_what_is_wrong(sleep, context, message):
    saga, nap = saga_with(sleep, context=context)
    with pytest.raises(SagaDefinitionError, match=message):
        wake_time(saga, nap, NOW)
