"""The gate of a limited action, on units in memory: run now with a slot, or
hold the message with the attempt's clock stopped; a released message runs
with its clock started again."""

from __future__ import annotations

from datetime import timedelta

from django_saga import clock, flow
from django_saga.limits import Gate, Limit, Rate
from django_saga.messages import EXECUTE, StepMessage, decode
from django_saga.models import Pause, Scope
from django_saga.stores.base import Held
from django_saga.stores.memory import MemoryStore, MemoryUnit
from django_saga.stores.memory_held import HeldRow
from tests.unit.flow.helpers import build, unit_for

LIMIT = Limit(1)


def test_a_free_slot_lets_the_handler_run_and_names_the_queue():
    saga = build(("pay",), timeout=30)
    unit = unit_for(saga, "pay")
    step = unit.step
    step.timeout_at = clock.later(30)
    assert flow.admit(unit, step, EXECUTE, "do", LIMIT, 1)
    assert unit.gates == {Gate(EXECUTE, "do", "", 1)}
    assert unit.held == []
    assert step.timeout_at is not None


def test_without_a_slot_the_message_is_held_and_its_attempt_clock_stops():
    saga = build(("pay",), timeout=30)
    unit = unit_for(saga, "pay")
    step = unit.step
    step.attempts = 2
    step.timeout_at = clock.later(30)
    busy: set[int] = set()
    store = unit.store
    assert store.queues.slots.take(Gate(EXECUTE, "do", "", 1).slot_ids(), busy)
    assert not flow.admit(unit, step, EXECUTE, "do", LIMIT, 2)
    assert unit.held == [HeldRow(StepMessage(EXECUTE, saga.pk, step.pk, 2), (EXECUTE, "do", ""))]
    assert step.timeout_at is None
    assert unit.gates == {Gate(EXECUTE, "do", "", 1)}


def test_a_released_message_runs_and_its_attempt_clock_starts_again():
    saga = build(("pay",), timeout=30)
    unit = unit_for(saga, "pay")
    step = unit.step
    assert step.timeout_at is None  # as its hold left it
    unit.released = Held(1, StepMessage(EXECUTE, saga.pk, step.pk, 1))
    before = clock.now()
    assert flow.may_run(unit, step, EXECUTE, "do", 1, LIMIT)
    assert step.timeout_at is not None
    assert step.timeout_at >= before + timedelta(seconds=30)


def test_a_paused_saga_holds_its_message_outside_the_queues():
    saga = build(("pay",), timeout=30)
    saga.paused = True
    unit = unit_for(saga, "pay")
    step = unit.step
    step.timeout_at = clock.later(30)
    assert not flow.may_run(unit, step, EXECUTE, "do", 1, None)
    assert unit.held == [
        HeldRow(StepMessage(EXECUTE, saga.pk, step.pk, 1), (EXECUTE, "do", ""), paused=True)
    ]
    assert step.timeout_at is None


def test_a_pause_of_an_action_or_a_name_holds_what_its_pattern_matches():
    saga = build(("pay",))
    saga.name = "order"
    pauses = [Pause(pk=7, scope=Scope.ACTION, pattern="payment.*")]
    unit = unit_for(saga, "pay")
    unit.active_pauses = lambda: pauses  # type: ignore[method-assign]
    unit.pauses = True
    assert flow.may_run(unit, unit.step, EXECUTE, "shipping.book", 1, None)
    assert not flow.may_run(unit, unit.step, EXECUTE, "payment.charge", 1, None)
    pauses[0] = Pause(pk=8, scope=Scope.NAME, pattern="ord*")
    assert not flow.may_run(unit, unit.step, EXECUTE, "shipping.book", 1, None)
    assert len(unit.held) == 2 and all(row.paused for row in unit.held)


def test_a_limit_per_key_queues_the_saga_under_its_key():
    saga = build(("pay",))
    saga.key = "customer-7"
    unit = unit_for(saga, "pay")
    assert flow.admit(unit, unit.step, EXECUTE, "do", Limit(1, "key"), 1)
    assert unit.gates == {Gate(EXECUTE, "do", "customer-7", 1)}


def test_a_rate_sends_a_message_whose_turn_is_later_again_due_then():
    saga = build(("a",), ("b",), timeout=30)
    store = MemoryStore()
    paced = Limit(None, None, Rate(2, 1.0))  # a turn every 0.5 s
    first = MemoryUnit(saga, saga.step("a"), fast_path=True, store=store)
    assert flow.admit(first, first.step, EXECUTE, "do", paced, 1)
    second = MemoryUnit(saga, saga.step("b"), fast_path=True, store=store)
    step = second.step
    assert not flow.admit(second, step, EXECUTE, "do", paced, 1)
    [(message, delay)] = second.delayed
    assert decode(message.body.encode(), 10_000) == StepMessage(
        EXECUTE, saga.pk, step.pk, 1, rated=True
    )
    assert 0.4 < delay <= 0.5
    # Its attempt's clock is put off by the wait.
    assert step.timeout_at is not None
    assert step.timeout_at >= clock.now() + timedelta(seconds=30 + 0.4)
    # Delivered at its turn, it goes: it takes no other.
    third = MemoryUnit(saga, saga.step("b"), fast_path=True, store=store)
    third.rated = True
    assert flow.admit(third, third.step, EXECUTE, "do", paced, 1)
    assert third.delayed == []
