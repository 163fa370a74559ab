"""django_saga.retry: how often a failed attempt is tried again, and when."""

from __future__ import annotations

import math
import re

import pytest
from django.db import OperationalError

from django_saga import RetryableError, RetryPolicy, SagaDefinitionError
from django_saga.retry import StepTimeout


def test_many_retries_never_overflow_the_backoff():
    policy = RetryPolicy(max_attempts=5000, backoff=1.0, multiplier=2.0, max_delay=300, jitter=0)
    assert policy.delay(2000) == 300


def never_random() -> float:
    """``rand()`` of 0.5: no jitter either way."""
    return 0.5


def test_the_delay_grows_by_the_multiplier_up_to_the_cap():
    policy = RetryPolicy(max_attempts=10, backoff=1.0, multiplier=3.0, max_delay=20, jitter=0)
    assert [policy.delay(n) for n in range(1, 5)] == [1.0, 3.0, 9.0, 20.0]


def test_jitter_spreads_the_delay_either_way_within_the_cap():
    policy = RetryPolicy(max_attempts=5, backoff=10.0, multiplier=2.0, max_delay=100, jitter=0.2)
    assert policy.delay(1, never_random) == 10.0
    assert policy.delay(1, lambda: 0.0) == pytest.approx(8.0)
    assert policy.delay(1, lambda: 1.0) == pytest.approx(12.0)
    assert policy.delay(5, lambda: 1.0) == 100.0  # 160 spread up, then capped


def test_a_zero_backoff_retries_at_once():
    policy = RetryPolicy(max_attempts=3, backoff=0, max_delay=60, jitter=0.5)
    assert policy.delay(1, lambda: 1.0) == 0.0


def test_unset_fields_come_from_the_settings(settings):
    settings.SAGA = {
        **settings.SAGA,
        "RETRY_MAX_ATTEMPTS": 4,
        "COMPENSATION_MAX_ATTEMPTS": 9,
        "RETRY_BACKOFF": 2.0,
        "RETRY_MAX_DELAY": 30.0,
        "RETRY_JITTER": 0.1,
    }
    step = RetryPolicy().resolved()
    assert (step.max_attempts, step.backoff, step.max_delay, step.jitter) == (4, 2.0, 30.0, 0.1)
    assert RetryPolicy().resolved(compensation=True).max_attempts == 9
    own = RetryPolicy(max_attempts=2, backoff=0.5, jitter=0).resolved(compensation=True)
    assert (own.max_attempts, own.backoff, own.max_delay, own.jitter) == (2, 0.5, 30.0, 0)


class Declined(Exception):
    pass


def test_only_errors_worth_another_try_are_retried_and_only_while_attempts_remain():
    policy = RetryPolicy(max_attempts=3, retry_on=(Declined,)).resolved()
    assert policy.retries(RetryableError("503"), 1)
    assert policy.retries(StepTimeout("slow"), 2)
    assert policy.retries(OperationalError("deadlock detected"), 1)
    assert policy.retries(Declined(), 1)
    assert not policy.retries(ValueError("bad input"), 1)
    assert not policy.retries(RetryableError("503"), 3)  # the last attempt


def test_a_project_names_more_retryable_errors_in_its_settings(settings):
    settings.SAGA = {**settings.SAGA, "RETRY_ON": ["builtins.ConnectionError"]}
    policy = RetryPolicy(max_attempts=3).resolved()
    assert policy.retries(ConnectionResetError(), 1)
    assert not policy.retries(KeyError("x"), 1)


def test_a_compensation_and_a_step_past_the_pivot_are_retried_on_any_error():
    policy = RetryPolicy(max_attempts=3).resolved()
    assert policy.retries(KeyError("x"), 1, compensation=True)
    assert not policy.retries(KeyError("x"), 3, compensation=True)
    assert policy.retries(KeyError("x"), 1, forward=True)
    # ... except an error no retry can mend.
    assert not policy.retries(SagaDefinitionError("output is not JSON"), 1, forward=True)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"max_attempts": 0}, "max_attempts must be an integer of at least 1"),
        ({"max_attempts": True}, "max_attempts must be an integer of at least 1"),
        ({"max_attempts": 2.5}, "max_attempts must be an integer of at least 1"),
        ({"backoff": -1}, "RetryPolicy backoff must be a positive"),
        ({"max_delay": math.inf}, "RetryPolicy max_delay is inf seconds, over the limit"),
        ({"jitter": 1.5}, "jitter must be a number from 0 to 1"),
        ({"jitter": math.nan}, "jitter must be a number from 0 to 1"),
        ({"multiplier": 0.5}, "multiplier must be a number from 1 to 1000"),
        ({"retry_on": [ValueError]}, "retry_on must be a tuple of exception classes"),
        ({"retry_on": ("ValueError",)}, "retry_on must be a tuple of exception classes"),
    ],
    ids=repr,
)
def test_a_policy_that_could_not_be_followed_is_refused_naming_the_field(fields, problem):
    with pytest.raises(SagaDefinitionError, match=re.escape(problem)):
        RetryPolicy(**fields)
