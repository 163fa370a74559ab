"""``MemoryOutbox``: the memory store's outbox rows, claimed, leased and sent."""

from __future__ import annotations

from datetime import timedelta

from django_saga.messages import EXECUTE
from django_saga.stores.memory import MemoryStore
from tests.unit.stores.test_memory import new_saga, test_clock

__all__ = ["test_clock"]  # the fixture


def test_a_delayed_message_waits_its_turn_and_its_step_counts_as_relayed(test_clock):
    store = MemoryStore()
    saga = new_saga(store)
    with store.open_saga(saga.pk) as unit:
        unit.send(EXECUTE, unit.saga.steps[0], 2)
        unit.send(EXECUTE, unit.saga.steps[1], 1, delay=30)
        [(delayed, _)] = unit.delayed
    [now] = store.claim_due(10, lease=60)
    assert now.id != delayed.id
    assert store.relayed_steps(saga.pk) == {saga.steps[0].pk, saga.steps[1].pk}
    store.mark_sent([now.id])
    assert store.relayed_steps(saga.pk) == {saga.steps[1].pk}
    test_clock.advance(timedelta(seconds=29))
    assert store.claim_due(10, lease=60) == []
    test_clock.advance(timedelta(seconds=2))
    assert [m.id for m in store.claim_due(10, lease=60)] == [delayed.id]
    store.mark_sent([delayed.id])
    assert store.relayed_steps(saga.pk) == set()
