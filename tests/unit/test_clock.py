"""django_saga.clock: the time django-saga reads, and every scheduled time, bounded."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from django_saga import Step, clock, manager
from django_saga.clock import MAX_SECONDS, later
from django_saga.models import SagaStep
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger


def test_scheduled_times_are_clamped_instead_of_overflowing():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ceiling = start + timedelta(seconds=MAX_SECONDS)
    assert later(1e12, start) == ceiling
    assert later(math.inf, start) == ceiling
    assert later(math.nan, start) == start
    assert later(-5, start) == start
    assert later(60, start) == start + timedelta(minutes=1)


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


def test_the_time_read_is_the_systems_unless_a_source_stands_in():
    before = timezone.now()
    assert before <= clock.now() <= timezone.now()
    assert not clock.replaced()
    fixed = datetime(2030, 6, 1, tzinfo=UTC)
    previous = clock.set_source(lambda: fixed)
    try:
        assert previous is None
        assert clock.replaced()
        assert clock.now() == fixed
        assert later(90) == fixed + timedelta(seconds=90)  # scheduled from the source's time
    finally:
        assert clock.set_source(previous) is not None
    assert not clock.replaced()
    assert clock.now() != fixed


def test_a_source_is_seen_by_the_thread_that_set_it_only():
    fixed = datetime(2030, 6, 1, tzinfo=UTC)
    seen: list[datetime] = []
    previous = clock.set_source(lambda: fixed)
    try:
        other = threading.Thread(target=lambda: seen.append(clock.now()))
        other.start()
        other.join()
        assert clock.now() == fixed
    finally:
        clock.set_source(previous)
    assert seen and seen[0] != fixed
