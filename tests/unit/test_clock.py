"""django_saga.clock: the time django-saga reads, and every scheduled time, bounded."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from django_saga import Step, manager
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
