"""django_saga.testing.clock: the test clock and exact delays, in the kit's thread only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from django_saga import clock, processor
from django_saga.stores.django import DjangoStore
from tests.unit.testing.sagas import order_steps

pytestmark = pytest.mark.django_db


def test_another_thread_keeps_the_real_clock_and_jitter_while_the_kit_runs(kit):
    kit.advance(days=3)
    seen: dict[str, object] = {}

    def engine_thread() -> None:
        seen["now"], seen["replaced"] = clock.now(), clock.replaced()
        seen["jitter"] = {processor.retry_random() for _ in range(20)}

    thread = threading.Thread(target=engine_thread)
    thread.start()
    thread.join()
    assert seen["replaced"] is False
    assert abs(seen["now"] - timezone.now()) < timedelta(minutes=1)
    assert len(seen["jitter"]) > 1
    # Where the kit runs: its clock, three days ahead, and retries with no jitter.
    assert clock.now() == kit.clock.now() > timezone.now() + timedelta(days=2)
    assert processor.retry_random() == 0.5


def test_the_store_compares_due_times_with_the_test_clock_only_when_one_is_set(kit):
    store = DjangoStore()
    saga = kit.start("order", order_steps(fail_times=0))
    assert store.due_timeouts(10) == []
    kit.clock.advance(timedelta(minutes=15))
    assert store.due_timeouts(10) == [(saga.pk, saga.step("payment").pk)]
    kit.uninstall()
    # The database's clock: fifteen minutes have not passed by it.
    assert store.due_timeouts(10) == []
