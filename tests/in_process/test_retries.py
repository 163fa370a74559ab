"""Retries, timeouts, deadlines and stale sagas, driven through the in-process transport."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from django_saga import RetryPolicy, Step, manager
from django_saga.models import OutboxMessage, Saga
from django_saga.processor import Processor
from django_saga.stores import get_store
from django_saga.sweeper import Sweeper
from django_saga.testing import SagaTestKit
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def test_delay_doubles_up_to_the_cap_and_jitter_spreads_it():
    policy = RetryPolicy(backoff=1.0, multiplier=2.0, max_delay=10.0, jitter=0.2, max_attempts=9)
    assert [policy.delay(n, lambda: 0.5) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert policy.delay(2, lambda: 0.0) == pytest.approx(1.6)  # 2 * (1 - 0.2)
    assert policy.delay(2, lambda: 1.0) == pytest.approx(2.4)  # 2 * (1 + 0.2)
    assert policy.delay(5, lambda: 1.0) == 10  # never past max_delay


def test_bad_policies_are_refused():
    with pytest.raises(ValueError, match="max_attempts must be an integer of at least 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="jitter must be a number from 0 to 1"):
        RetryPolicy(jitter=-1)


class FixedClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _pending(saga_id: str) -> OutboxMessage:
    return OutboxMessage.objects.filter(saga_id=saga_id).latest("created_at")


def test_retries_follow_the_schedule_on_the_outbox_clock(settings, monkeypatch):
    settings.SAGA = {
        **settings.SAGA,
        "RETRY_BACKOFF": 1.0,
        "RETRY_MAX_DELAY": 60.0,
        "RETRY_JITTER": 0.5,
        "RETRY_MAX_ATTEMPTS": 4,
    }
    clock = FixedClock()
    monkeypatch.setattr("django_saga.clock.now", clock)
    monkeypatch.setattr("django_saga.processor.retry_random", lambda: 0.5)  # no jitter
    saga = manager.start("order", [Step("a", "test.flaky", "", {"fail_times": 3})])
    processor = Processor(get_store())
    expected_delays = [1.0, 2.0, 4.0]
    for attempt, delay in enumerate(expected_delays, start=1):
        message = _pending(saga.id)
        result = processor.process(message.body.encode())
        assert result.outgoing == []  # a delayed retry is the relay's, not the fast path's
        retry = _pending(saga.id)
        assert retry.body != message.body
        assert f'"attempt":{attempt + 1}' in retry.body
        assert retry.available_at == clock.now + timedelta(seconds=delay)
        clock.now += timedelta(seconds=delay)
    processor.process(_pending(saga.id).body.encode())
    saga = manager.get(saga.id)
    assert saga.state == "completed"
    step = saga.step("a")
    assert step.attempts == 4
    assert step.output == {"attempt": 4}
    assert [(h["attempt"], h["outcome"]) for h in step.history] == [
        (1, "retrying"),
        (2, "retrying"),
        (3, "retrying"),
        (4, "completed"),
    ]
    assert [h["retry_in"] for h in step.history[:3]] == expected_delays
    assert step.history[0]["error"] == "RetryableError: attempt 1 of a hit a blip"
    # Each failed attempt's own write rolled back; only the last one's stayed.
    assert list(Ledger.objects.values_list("action", flat=True)) == ["try:a:4"]


def test_a_transient_failure_is_retried_until_it_succeeds(run_engine):
    run_engine()
    saga = manager.start("order", [Step("a", "test.flaky", "", {"fail_times": 2})])
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    assert saga.step("a").attempts == 3


def test_a_non_retryable_error_fails_the_step_at_once(run_engine):
    run_engine()
    saga = manager.start(
        "order", [Step("a", "test.record", "test.undo"), Step("b", "test.connection_error", "")]
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.step("b").attempts == 1
    assert saga.step("b").error == "ConnectionError: upstream reset the connection"


def test_exception_types_named_in_retry_on_are_retried(run_engine, settings):
    settings.SAGA = {**settings.SAGA, "RETRY_ON": ["builtins.ConnectionError"]}
    run_engine()
    saga = manager.start("order", [Step("a", "test.connection_error", "")])
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.step("a").attempts == 3  # RETRY_MAX_ATTEMPTS, then failed
    assert [h["outcome"] for h in saga.step("a").history] == ["retrying", "retrying", "failed"]


def test_exhausted_retries_fail_the_step_and_compensate(run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [Step("a", "test.record", "test.undo"), Step("b", "test.flaky", "", {"fail_times": 9})],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.step("b").attempts == 3
    assert saga.step("a").status == "compensated"


def test_a_handler_policy_overrides_the_settings(run_engine):
    from django_saga import register_step_handler
    from django_saga.registry import registry
    from tests.testapp.sagas import flaky

    register_step_handler("tmp.flaky5", flaky, retry=RetryPolicy(max_attempts=5, backoff=0))
    try:
        run_engine()
        saga = manager.start("order", [Step("a", "tmp.flaky5", "", {"fail_times": 4})])
        saga = wait_terminal(saga.id)
        assert saga.state == "completed"
        assert saga.step("a").attempts == 5
    finally:
        registry.unregister("execute", "tmp.flaky5")


def test_a_failing_compensation_is_retried_then_succeeds(run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("a", "test.record", "test.undo_flaky", {"undo_fail_times": 2}),
            Step("b", "test.fail", ""),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    a = saga.step("a")
    assert a.compensation_attempts == 3
    assert [h["outcome"] for h in a.history if h["kind"] == "compensate"] == [
        "retrying",
        "retrying",
        "compensated",
    ]
    assert Ledger.objects.filter(action="undo:a").count() == 1


def test_exhausted_compensation_stops_then_resumes(run_engine, settings):
    settings.SAGA = {**settings.SAGA, "COMPENSATION_MAX_ATTEMPTS": 2}
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("a", "test.record", "test.undo_flaky", {"undo_fail_times": 3}),
            Step("b", "test.fail", ""),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensation_failed"
    assert saga.step("a").error == "RuntimeError: refund attempt 2 failed"
    assert "compensation of step 'a' failed" in saga.error
    manager.retry_compensation(saga.id)  # attempts 3 (fails) and 4 (succeeds)
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.step("a").compensation_attempts == 4
    assert Ledger.objects.filter(action="undo:a").count() == 1


def test_an_attempt_over_its_timeout_counts_as_failed(run_engine):
    run_engine()
    # The second attempt must start within the timeout of its dispatch: leave
    # room for a loaded machine's relay and broker latency.
    saga = manager.start("order", [Step("a", "test.slow_first", "", {"seconds": 1.2}, timeout=0.8)])
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    step = saga.step("a")
    assert step.attempts == 2
    assert step.history[0]["outcome"] == "retrying"
    assert "over the step's 0.8s timeout" in step.history[0]["error"]
    # The slow attempt's write rolled back with it.
    assert Ledger.objects.filter(step_id=step.id).count() == 1


def test_a_step_with_no_result_past_its_timeout_is_failed_by_the_sweeper(settings):
    # No engine consumes: as if the one that took the message had died.
    settings.SAGA = {**settings.SAGA, "RETRY_MAX_ATTEMPTS": 2}
    saga = manager.start("order", [Step("a", "test.record", "", timeout=0.2)])
    store = get_store()
    sweeper = Sweeper(store, Processor(store))
    assert sweeper.sweep().timed_out == 0
    wait_for(lambda: sweeper.sweep().timed_out == 1, 5, "the first timeout")
    step = manager.get(saga.id).step("a")
    assert step.status == "started" and step.attempts == 2
    assert step.history[0]["error"].startswith("StepTimeout: no result for attempt 1")
    wait_for(lambda: sweeper.sweep().timed_out == 1, 5, "the second timeout")
    saga = manager.get(saga.id)
    assert saga.state == "compensated"
    assert saga.step("a").status == "failed"


def test_a_saga_past_its_deadline_is_compensated(settings):
    # Step b waits 5s for its retry: the deadline passes while it waits.
    settings.SAGA = {**settings.SAGA, "RETRY_BACKOFF": 5.0, "RETRY_MAX_DELAY": 5.0}
    with SagaTestKit() as kit:
        saga = kit.start(
            "order",
            [
                Step("a", "test.record", "test.undo"),
                Step("b", "test.flaky", "", {"fail_times": 1}),
            ],
            deadline=0.5,
        )
        assert saga.deadline_at is not None
        kit.advance(seconds=10)  # past the deadline, and past b's retry
        saga = kit.assert_saga(saga, "compensated", ran=["a"], compensated=["a"])
    assert saga.error.startswith("deadline ") and saga.error.endswith(" passed")
    assert saga.step("b").status == "cancelled"
    assert saga.step("b").attempts == 2  # its retry never ran: the message is stale


def test_stale_lists_active_sagas_without_progress():
    from tests.factories import SagaFactory

    old_started = SagaFactory()
    old_compensating = SagaFactory(compensating=True)
    SagaFactory(completed=True)  # old too, but finished: never stale
    fresh = SagaFactory()
    two_hours_ago = timezone.now() - timedelta(hours=2)
    Saga.objects.exclude(pk=fresh.pk).update(updated_at=two_hours_ago)
    stale = set(Saga.objects.stale(older_than=timedelta(hours=1)))
    assert stale == {old_started, old_compensating}  # not the finished one, not the fresh one
    assert set(Saga.objects.stale(3 * 3600)) == set()


def test_a_retry_is_published_when_due_not_at_the_next_poll(run_engine, settings):
    # A relay that only polled every 5 s would hold the retry that long.
    settings.SAGA = {**settings.SAGA, "RELAY_INTERVAL": 5.0, "RETRY_BACKOFF": 0.2}
    run_engine()
    saga = manager.start("order", [Step("a", "test.flaky", "", {"fail_times": 1})])
    began = time.monotonic()
    saga = wait_terminal(saga.id, timeout=10)
    assert saga.state == "completed" and saga.step("a").attempts == 2
    assert time.monotonic() - began < 3
