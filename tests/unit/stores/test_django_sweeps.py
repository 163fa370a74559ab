"""What the Django store's sweeper finds due: timed-out steps and sagas past
their deadline, by the database's clock, or a test clock when one is set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_saga.models import SagaState, StepStatus
from django_saga.stores.django import DjangoStore
from django_saga.testing.clock import TestClock, give_back, take_over
from tests.factories import SagaFactory, SagaStepFactory

pytestmark = pytest.mark.django_db


def test_due_is_decided_by_the_database_clock_unless_a_test_clock_is_set():
    later = timezone.now() + timedelta(minutes=30)
    step = SagaStepFactory(position=0, status=StepStatus.STARTED, attempts=1, timeout_at=later)
    saga = SagaFactory(state=SagaState.STARTED, deadline_at=later)
    store = DjangoStore()
    assert store.due_timeouts(10) == []
    assert store.due_deadlines(10) == []
    moved = TestClock(timezone.now() + timedelta(hours=1))
    saved = take_over(moved)
    try:
        assert store.due_timeouts(10) == [(step.saga_id, step.pk)]
        assert store.due_deadlines(10) == [saga.pk]
    finally:
        give_back(saved)


def test_only_dispatched_or_waiting_steps_time_out():
    past = timezone.now() - timedelta(seconds=1)
    SagaStepFactory(position=0, status=StepStatus.COMPLETED, attempts=1, timeout_at=past)
    waiting = SagaStepFactory(position=0, status=StepStatus.WAITING, attempts=1, timeout_at=past)
    assert DjangoStore().due_timeouts(10) == [(waiting.saga_id, waiting.pk)]
