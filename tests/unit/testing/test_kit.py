"""django_saga.testing.kit: sagas run to their end in the test's thread, on a test clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import TestCase, TransactionTestCase

from django_saga import clock, manager, processor
from django_saga.messages import StepMessage
from django_saga.models import OutboxMessage, Saga, new_id
from django_saga.testing import Event, SagaTestError, SagaTestKit
from tests.testapp.models import Ledger
from tests.unit.testing.sagas import order_steps

pytestmark = pytest.mark.django_db


def test_three_step_saga_with_a_retry_and_a_15_minute_pending_timeout(kit):
    saga = kit.start("order", order_steps())
    # The charge failed once: its retry is a minute away on the test clock.
    assert saga.state == "started"
    assert kit.next_due() == kit.clock.now() + timedelta(minutes=1)
    kit.advance(minutes=1)
    assert kit.saga(saga).step("payment").status == "waiting"
    kit.advance(minutes=15)
    kit.assert_saga(
        saga,
        state="compensated",
        ran=["reserve", "charge"],
        compensated=["charge", "reserve"],
    )
    assert kit.timeline(saga) == [
        ("execute", "reserve", "completed"),
        ("execute", "charge", "retrying"),
        ("execute", "charge", "completed"),
        ("execute", "payment", "waiting"),
        ("execute", "payment", "failed"),
        ("compensate", "charge", "compensated"),
        ("compensate", "reserve", "compensated"),
    ]
    assert "no outside result" in kit.saga(saga).step("payment").error


def test_retries_back_off_exactly_as_the_policy_says(kit):
    saga = kit.start("order", order_steps(fail_times=2))
    started = kit.clock.now()
    kit.advance(seconds=59)
    assert len(kit.saga(saga).step("charge").history) == 1
    kit.advance(seconds=1)  # attempt 2 at +1 min fails: attempt 3 two minutes later
    assert len(kit.saga(saga).step("charge").history) == 2
    assert kit.next_due() == started + timedelta(minutes=3)
    kit.advance(minutes=2)
    assert kit.saga(saga).step("charge").output == {"charged": 3}


def test_a_long_advance_runs_each_retry_at_its_own_time(kit):
    saga = kit.start("order", order_steps(fail_times=2, wait=None))
    started = kit.clock.now()
    kit.advance(hours=1)
    history = kit.saga(saga).step("charge").history
    assert [entry["at"] for entry in history] == [
        (started + timedelta(minutes=m)).isoformat() for m in (0, 1, 3)
    ]
    assert kit.clock.now() == started + timedelta(hours=1)


def test_a_waiting_step_completed_by_the_kit(kit):
    saga = kit.start("order", order_steps(fail_times=0))
    assert kit.saga(saga).step("payment").status == "waiting"
    done = kit.complete_step(saga, "payment", {"charge_id": "ch_1"})
    assert done.step("payment").output == {"ref": "pay-1", "charge_id": "ch_1"}
    kit.assert_saga(saga, "completed", ran=["reserve", "charge", "payment"], compensated=[])
    assert kit.timeline(saga)[-1] == Event("outside", "payment", "completed")


def test_a_waiting_step_failed_by_the_kit(kit):
    saga = kit.start("order", order_steps(fail_times=0))
    kit.fail_step(saga, "payment", "declined")
    kit.assert_saga(saga, "compensated", compensated=["charge", "reserve"])
    assert Ledger.objects.filter(action__in=["release", "refund"]).count() == 2


def test_a_deadline_compensates_when_the_clock_passes_it(kit):
    saga = kit.start("order", order_steps(fail_times=0, wait=None), deadline=timedelta(hours=2))
    kit.advance(hours=1, minutes=59)
    assert kit.saga(saga).state == "started"
    kit.advance(minutes=1)
    done = kit.assert_saga(saga, "compensated", compensated=["charge", "reserve"])
    assert done.error.startswith("deadline ")
    assert done.step("payment").status == "cancelled"


def test_a_saga_started_by_the_project_code_is_run_too(kit):
    saga = manager.start("order", order_steps(fail_times=0, wait=None))
    assert kit.run() == 3
    kit.complete_step(saga, "payment")
    kit.assert_saga(saga, "completed", ran=["reserve", "charge", "payment"])


def test_a_dead_lettered_message_fails_the_test(kit):
    saga = kit.start("order", order_steps(fail_times=0))
    body = StepMessage("execute", saga.pk, "01NOSUCHSTEP", 1).encode()
    OutboxMessage.objects.create(
        id=new_id(), saga_id=saga.pk, kind="execute", body=body, available_at=clock.now()
    )
    with pytest.raises(SagaTestError, match="dead-lettered"):
        kit.run()


def test_the_kit_runs_only_when_installed():
    kit = SagaTestKit()
    with pytest.raises(SagaTestError, match="install"):
        kit.run()
    with pytest.raises(SagaTestError, match="install"):
        kit.start("order", order_steps())
    assert not Saga.objects.exists()
    jitter = processor.retry_random
    with kit:
        assert clock.now() == kit.clock.now()
    assert not clock.replaced() and processor.retry_random is jitter


class KitInTestCase(TestCase):
    """As a project's TestCase would use it: each test in a savepoint."""

    def setUp(self) -> None:
        self.kit = self.enterContext(SagaTestKit())

    def test_an_order_completes(self) -> None:
        saga = self.kit.start("order", order_steps(fail_times=1))
        self.kit.advance(minutes=1)
        self.kit.complete_step(saga, "payment")
        self.kit.assert_saga(saga, "completed", ran=["reserve", "charge", "payment"])

    def test_an_order_times_out(self) -> None:
        saga = self.kit.start("order", order_steps(fail_times=0))
        self.kit.advance(minutes=15)
        self.kit.assert_saga(saga, "compensated", compensated=["charge", "reserve"])


class KitInTransactionTestCase(TransactionTestCase):
    """Units commit for real here; the kit drives them the same way."""

    def setUp(self) -> None:
        self.kit = self.enterContext(SagaTestKit())

    def test_an_order_times_out(self) -> None:
        saga = self.kit.start("order", order_steps(fail_times=1))
        self.kit.advance(minutes=16)
        self.kit.assert_saga(
            saga, "compensated", ran=["reserve", "charge"], compensated=["charge", "reserve"]
        )
        self.assertEqual(Ledger.objects.filter(action="refund").count(), 1)
