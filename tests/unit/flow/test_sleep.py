"""A sleep step's messages (flow/sleep.py), run to the end by the test kit:
it sleeps for nothing, wakes at its time, is woken or cancelled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_saga import InvalidStateTransition, Sleep, Step, manager, parallel
from django_saga.models import Intervention, OutboxMessage
from django_saga.testing import SagaTestKit

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


def order(*middle):
    return [Step("pack", "test.record", "test.undo"), *middle, Step("remind", "test.record", "")]


def test_a_sleep_wakes_at_its_time_and_the_saga_goes_on(kit):
    saga = kit.start("order", order(Sleep("cool_off", timedelta(days=3))))
    began = kit.clock.now()
    cool_off = kit.saga(saga).step("cool_off")
    assert cool_off.status == "started"
    assert cool_off.sleeping_until == began + timedelta(days=3)
    assert kit.next_due() == began + timedelta(days=3)
    kit.advance(days=2, hours=23)
    assert kit.saga(saga).step("remind").status == "pending"
    kit.advance(hours=1)
    kit.assert_saga(saga, "completed", ran=["pack", "cool_off", "remind"], compensated=[])
    assert kit.saga(saga).step("cool_off").output == {
        "slept_until": (began + timedelta(days=3)).isoformat()
    }
    assert [e.outcome for e in kit.timeline(saga) if e.step == "cool_off"] == [
        "sleeping",
        "completed",
    ]


def test_a_sleep_whose_time_has_passed_when_it_starts_does_not_sleep(kit):
    saga = kit.start(
        "order", order(Sleep("late", until="context.at")), context={"at": "2020-01-01T00:00Z"}
    )
    kit.assert_saga(saga, "completed", ran=["pack", "late", "remind"], compensated=[])


def test_a_sleep_that_cannot_read_its_time_fails_its_step_at_once(kit):
    saga = kit.start("order", order(Sleep("nap", "context.grace")))
    kit.assert_saga(saga, "compensated", ran=["pack"], compensated=["pack"])
    assert "the saga's context has no 'grace'" in kit.saga(saga).step("nap").error


def test_an_operator_wakes_a_sleep_early_and_the_trail_says_who_and_why(kit):
    saga = kit.start("order", order(Sleep("cool_off", timedelta(days=3))))
    manager.wake_step(saga.id, "cool_off", by="olga", reason="the customer asked")
    kit.run()
    kit.assert_saga(saga, "completed")
    (entry,) = Intervention.objects.filter(saga_id=saga.id)
    assert (entry.action, entry.actor, entry.reason, entry.step) == (
        "wake_step",
        "olga",
        "the customer asked",
        "cool_off",
    )
    assert "sleeping_until" in entry.details
    # The message that was due in three days comes, and changes nothing.
    kit.advance(days=3)
    assert kit.saga(saga).step("remind").attempts == 1


def test_only_a_sleep_that_has_not_woken_can_be_woken(kit):
    saga = kit.start("order", order(Sleep("cool_off", timedelta(hours=1))))
    with pytest.raises(InvalidStateTransition, match=r"'pack' .* is not sleeping"):
        manager.wake_step(saga.id, "pack")
    kit.advance(hours=1)
    with pytest.raises(InvalidStateTransition, match=r"'cool_off' .* is not sleeping"):
        manager.wake_step(saga.id, "cool_off")


def test_a_saga_compensated_by_hand_cancels_its_sleep_which_never_wakes(kit):
    saga = kit.start("order", order(Sleep("cool_off", timedelta(days=3))))
    manager.compensate(saga.id, by="olga", reason="order cancelled")
    kit.run()
    kit.assert_saga(saga, "compensated", ran=["pack"], compensated=["pack"])
    assert kit.saga(saga).step("cool_off").status == "cancelled"
    kit.advance(days=4)
    assert kit.saga(saga).step("remind").status == "cancelled"
    assert kit.saga(saga).step("cool_off").status == "cancelled"


def test_a_failing_sibling_cuts_a_sleep_short_instead_of_waiting_for_it(kit):
    saga = kit.start(
        "order",
        order(parallel(Sleep("cool_off", timedelta(days=3)), Step("charge", "test.fail", ""))),
    )
    # Compensated now, not in three days: the sleep was woken to be cancelled.
    kit.assert_saga(saga, "compensated", ran=["pack"], compensated=["pack"])
    assert kit.saga(saga).step("cool_off").status == "cancelled"
    assert kit.clock.now() - saga.created_at < timedelta(minutes=1)


def test_a_sleep_whose_message_was_lost_is_woken_by_the_sweeper(kit):
    saga = kit.start("order", order(Sleep("cool_off", timedelta(hours=1))))
    OutboxMessage.objects.filter(saga_id=saga.id, sent_at__isnull=True).delete()
    kit.advance(hours=1)
    kit.assert_saga(saga, "completed", ran=["pack", "cool_off", "remind"], compensated=[])


def test_a_sleep_that_starts_as_its_saga_turns_back_is_cancelled_not_begun():
    """A sibling's failure committed between this message's dispatch and its
    run: under the saga's lock the sleep sees it, and does not sleep."""
    from django_saga import flow
    from django_saga.models import SagaState

    from .helpers import build, unit_for

    saga = build(("a",), ("nap", "b"))
    nap = saga.step("nap")
    nap.action, nap.compensation, nap.input = Sleep("nap", 60).action, "", {"seconds": 60}
    flow.start(unit_for(saga))
    saga.state = SagaState.COMPENSATING
    unit = unit_for(saga, "nap")
    assert flow.sleep_message(unit, unit.step) == flow.CANCELLED
    assert nap.status == "cancelled" and nap.timeout_at is None
    assert unit.delayed == []
