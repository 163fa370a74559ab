"""django_saga.retry: how often a failed attempt is tried again, and when."""

from __future__ import annotations

from django_saga import RetryPolicy


def test_many_retries_never_overflow_the_backoff():
    policy = RetryPolicy(max_attempts=5000, backoff=1.0, multiplier=2.0, max_delay=300, jitter=0)
    assert policy.delay(2000) == 300
