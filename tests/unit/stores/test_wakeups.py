"""django_saga.stores.wakeups: when a relay in this process looks again."""

from __future__ import annotations

import time

from django_saga.stores.wakeups import SLACK, DueTimes


def test_a_due_time_just_past_brings_one_more_look_then_is_forgotten():
    """The relay wakes by this process's clock but claims by the wall clock: a
    claim a hair early must not leave a retry to the next poll."""
    times = DueTimes()
    times.add([0.05])
    assert 0.03 < times.seconds_until_next(60) <= 0.05
    time.sleep(0.055)  # due, but perhaps not yet to the claim's clock
    assert 0 < times.seconds_until_next(60) <= SLACK
    time.sleep(SLACK)
    assert times.seconds_until_next(60) == 60
