"""``MemoryQueues``: held messages in arrival order, held once, each run by one
release at a time, and their slots given back however a release ends."""

from __future__ import annotations

import pytest

from django_saga.limits import Gate
from django_saga.messages import EXECUTE, StepMessage
from django_saga.stores.memory_held import HeldRow, MemoryQueues

GATE = Gate(EXECUTE, "payment.charge", "", 1)


def message(n: int) -> StepMessage:
    return StepMessage(EXECUTE, f"saga-{n}", f"step-{n}", 1)


def row(n: int, paused: bool = False) -> HeldRow:
    return HeldRow(message(n), (EXECUTE, GATE.action, ""), paused)


def test_a_message_is_held_once_and_released_oldest_first():
    queues = MemoryQueues()
    queues.add([row(1), row(2), row(1)])
    assert queues.queues(10) == [(EXECUTE, "payment.charge", "")]
    assert queues.steps_of("saga-1") == {"step-1"}
    with queues.open(GATE) as held:
        assert held is not None and held.message == message(1)
        # The one slot is the release's: no other run, no second release.
        assert not queues.take(GATE, set(), queued_first=False)
        with queues.open(GATE) as other:
            assert other is None
    with queues.open(GATE) as held:
        assert held is not None and held.message == message(2)
    assert queues.queues(10) == []


def test_a_release_that_fails_keeps_the_row_and_frees_the_slot():
    queues = MemoryQueues()
    queues.add([row(1)])
    with pytest.raises(RuntimeError), queues.open(GATE):
        raise RuntimeError("the handler raised")
    assert queues.steps_of("saga-1") == {"step-1"}
    assert queues.slots.in_use(GATE.slot_ids()) == 0


def test_newcomers_wait_behind_held_messages():
    queues = MemoryQueues()
    assert queues.take(GATE, set(), queued_first=True)
    queues.slots.give_back(set(GATE.slot_ids()))
    queues.add([row(1)])
    assert not queues.take(GATE, set(), queued_first=True)


def test_a_sagas_paused_messages_wait_outside_every_queue_until_dropped():
    queues = MemoryQueues()
    queues.add([row(1, paused=True), row(2)])
    assert queues.paused_of("saga-1") == [message(1)]
    assert queues.steps_of("saga-1") == {"step-1"}
    # A release passes it over: it waits for its saga's resume, not a slot.
    with queues.open(GATE) as held:
        assert held is not None and held.message == message(2)
    with queues.open(GATE) as held:
        assert held is None
    queues.drop([message(1)])
    assert queues.paused_of("saga-1") == [] and queues.steps_of("saga-1") == set()
