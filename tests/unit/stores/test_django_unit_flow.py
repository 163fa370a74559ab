"""The Django unit's flow control, in its transaction: a message held once,
the saga's own paused messages sent again, the pauses in force, and the next
saga of its key's queue."""

from __future__ import annotations

import pytest

from django_saga import Step, manager
from django_saga.api import QUEUE
from django_saga.messages import EXECUTE, StepMessage
from django_saga.models import HeldMessage, OutboxMessage, Pause
from django_saga.stores.django import DjangoStore

pytestmark = pytest.mark.django_db


def test_a_message_is_held_once_and_the_sagas_own_pause_sends_it_again():
    saga = manager.start("order", [Step("a", "test.record", "")])
    step = saga.step("a")
    message = StepMessage(EXECUTE, saga.pk, step.pk, 1)
    store = DjangoStore()
    with store.open_saga(saga.pk) as unit:
        unit.hold_message(message, "test.record", paused=True)
        unit.hold_message(message, "test.record", paused=True)
        unit.hold_message(StepMessage(EXECUTE, saga.pk, step.pk, 2), "test.record")
    assert HeldMessage.objects.count() == 2
    before = OutboxMessage.objects.count()
    with store.open_saga(saga.pk) as unit:
        assert unit.relayed_steps() >= {step.pk}
        # Only what the saga's pause held: not what waits for a slot.
        assert unit.release_paused() == 1
    assert OutboxMessage.objects.count() == before + 1
    assert list(HeldMessage.objects.values_list("paused", flat=True)) == [False]


def test_the_pauses_in_force_and_the_next_of_the_key_are_read_in_the_unit():
    Pause.objects.create(scope="action", pattern="pay*", paused_by="ada")
    holder = manager.start("order", [Step("a", "test.pending", "")], key="k", if_active=QUEUE)
    queued = manager.start("order", [Step("a", "test.pending", "")], key="k", if_active=QUEUE)
    with DjangoStore().open_saga(holder.pk) as unit:
        assert [p.pattern for p in unit.active_pauses()] == ["pay*"]
        assert unit.next_queued() == queued.pk
    with DjangoStore().open_saga(queued.pk) as unit:
        assert unit.next_queued() is None  # none behind it
