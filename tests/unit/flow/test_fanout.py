"""A map stage's message (flow/fanout.py), run by the test kit: it makes
the items once, keeps at most so many in flight, and waits for them."""

from __future__ import annotations

import pytest

from django_saga import InvalidStateTransition, Step, each
from django_saga.flow import items
from django_saga.messages import EXECUTE
from django_saga.models import OutboxMessage, SagaStep
from django_saga.processor import ACK
from django_saga.testing import SagaTestKit

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


def statuses(kit, saga) -> dict[str, str]:
    return {s.name: s.status for s in kit.saga(saga).steps}


def test_items_beyond_max_concurrency_start_as_others_end(kit):
    saga = kit.start(
        "batch",
        [each("pay", "test.pending", "", over="context.sellers", max_concurrency=2)],
        {"sellers": ["a", "b", "c", "d"]},
    )
    assert statuses(kit, saga) == {
        "pay": "waiting",
        "pay[0]": "waiting",
        "pay[1]": "waiting",
        "pay[2]": "pending",
        "pay[3]": "pending",
    }
    kit.complete_step(saga, "pay[1]", {})
    assert statuses(kit, saga)["pay[2]"] == "waiting"
    assert statuses(kit, saga)["pay[3]"] == "pending"
    for name in ("pay[0]", "pay[2]", "pay[3]"):
        kit.complete_step(saga, name, {})
    kit.assert_saga(saga, "completed")
    assert [e.outcome for e in kit.timeline(saga) if e.step == "pay"] == [
        "fanned out",
        "completed",
    ]


def test_a_copy_of_the_maps_message_makes_no_second_item(kit):
    saga = kit.start(
        "order",
        [each("reserve", "test.pending", "", over="context.lines"), Step("b", "test.record")],
        {"lines": [1, 2, 3]},
    )
    map_row = kit.saga(saga).step("reserve")
    (body,) = OutboxMessage.objects.filter(
        saga_id=saga.id, kind=EXECUTE, body__contains=map_row.id
    ).values_list("body", flat=True)
    result = kit.processor.process(body.encode(), redelivered=True)
    assert result.action == ACK
    assert SagaStep.objects.filter(saga_id=saga.id, name__startswith="reserve[").count() == 3
    assert statuses(kit, saga)["reserve"] == "waiting"


def test_an_operator_retries_the_failed_item_of_a_failed_saga_and_the_map_completes(kit, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    saga = kit.start(
        "batch",
        [each("pay", "test.item", "test.undo", over="context.sellers"), Step("b", "test.record")],
        {"sellers": ["a", {"fail": True}, "c"]},
    )
    assert kit.saga(saga).state == "failed"
    assert statuses(kit, saga)["pay"] == "failed"
    with pytest.raises(InvalidStateTransition, match="retry its failed items instead"):
        kit.manager.retry_step(saga.id, "pay")
    kit.manager.retry_step(saga.id, "pay[1]", {"item": "b", "index": 1})
    kit.run()
    kit.assert_saga(saga, "completed")
    assert kit.saga(saga).step("pay").output == {"items": 3, "failed": []}


def test_a_tolerated_failure_does_not_hold_a_saga_that_an_operator_resumes(kit, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    saga = kit.start(
        "batch",
        [
            each("pay", "test.item", "", over="context.sellers", tolerate=1),
            Step("b", "test.needs_ok", ""),
        ],
        {"sellers": ["a", {"fail": True}]},
    )
    kit.advance(seconds=1)  # b's retry
    assert kit.saga(saga).state == "failed"
    assert statuses(kit, saga)["pay"] == "completed"
    assert statuses(kit, saga)["pay[1]"] == "failed"
    kit.manager.retry_step(saga.id, "b", {"ok": True})
    kit.run()
    kit.assert_saga(saga, "completed")


def test_a_redrive_retries_the_failed_items_of_a_failed_map(kit, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    saga = kit.start(
        "batch",
        [each("pay", "test.breaks", "", over="context.sellers", input={"fail_times": 1})],
        {"sellers": ["a", "b"]},
    )
    assert kit.saga(saga).state == "failed"
    assert statuses(kit, saga) == {"pay": "failed", "pay[0]": "failed", "pay[1]": "failed"}
    redrive = kit.manager.redrive([saga.id], rate=100, reason="carrier back")
    assert redrive.scheduled
    kit.advance(seconds=1)
    kit.assert_saga(saga, "completed")
    assert kit.saga(saga).step("pay").output == {"items": 2, "failed": []}


def test_an_items_failed_compensation_is_retried_when_the_saga_resumes(kit):
    saga = kit.start(
        "batch",
        [
            each("pay", "test.item", "test.undo_flaky", over="context.sellers",
                 input={"undo_fail_times": 5}),
            Step("charge", "test.fail", ""),
        ],
        {"sellers": ["a"]},
    )  # fmt: skip
    kit.advance(seconds=120)  # the compensation's five attempts fail
    assert kit.saga(saga).state == "compensation_failed"
    assert statuses(kit, saga)["pay[0]"] == "compensation_failed"
    kit.manager.compensate(saga.id)
    kit.advance(seconds=120)
    kit.assert_saga(saga, "compensated")
    assert statuses(kit, saga)["pay[0]"] == "compensated"


def test_the_limit_holds_when_an_early_item_waits_long_past_the_window(kit, monkeypatch):
    # A window of one open item: item 0 waiting keeps it from closing, and
    # what is in flight is then counted through the status index.
    monkeypatch.setattr(items, "WINDOW", 1)
    saga = kit.start(
        "batch",
        [each("pay", "test.pending", "", over="context.sellers", max_concurrency=2)],
        {"sellers": list("abcde")},
    )
    for name in ("pay[1]", "pay[2]", "pay[3]"):
        kit.complete_step(saga, name, {})
        flying = [n for n, s in statuses(kit, saga).items() if s == "waiting" and n != "pay"]
        assert len(flying) == 2, flying
    kit.complete_step(saga, "pay[0]", {})
    kit.complete_step(saga, "pay[4]", {})
    kit.assert_saga(saga, "completed")


def test_an_operator_skips_the_failed_item_of_a_failed_map_and_the_saga_goes_on(kit, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    saga = kit.start(
        "batch",
        [each("pay", "test.item", "", over="context.sellers"), Step("b", "test.record")],
        {"sellers": ["a", {"fail": True}]},
    )
    assert statuses(kit, saga)["pay"] == "failed"
    with pytest.raises(InvalidStateTransition, match="skip its failed items instead"):
        kit.manager.skip_step(saga.id, "pay", {})
    kit.manager.skip_step(saga.id, "pay[1]", {"paid": "by hand"}, reason="paid by phone")
    kit.run()
    kit.assert_saga(saga, "completed")
    assert kit.saga(saga).step("pay[1]").output == {"paid": "by hand"}
