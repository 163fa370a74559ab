"""Pausing actions and saga names (actions/pauses.py), and a saga (the
catalogue's pause and resume), through the manager and the test kit: what
is paused does not run, what is resumed goes on where it stopped."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_saga import InvalidStateTransition, SagaDefinitionError, Step, manager
from django_saga.api import Manager
from django_saga.models import HeldMessage, Intervention, Pause, Scope
from django_saga.stores.memory import MemoryStore
from django_saga.testing import SagaTestKit
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


def two_steps(name: str = "order") -> list[Step]:
    return [Step("reserve", "test.record", "test.undo"), Step("pay", "test.set_output", "")]


def ran(saga) -> list[str]:
    steps = {s.id: s.name for s in saga.steps}
    return [steps[r.step_id] for r in Ledger.objects.filter(step_id__in=steps).order_by("id")]


def test_a_paused_action_runs_nothing_until_resumed_and_then_goes_on(kit):
    pause = manager.pause(action="test.set_*", by="ada", reason="provider outage")
    assert (pause.scope, pause.pattern, pause.paused_by) == (Scope.ACTION, "test.set_*", "ada")
    saga = kit.start("order", two_steps())
    # The first step's action is not paused; the second's is: it waits,
    # its delivery done with, its attempt's clock stopped.
    assert ran(saga) == ["reserve"]
    assert saga.state == "started" and saga.step("pay").status == "started"
    assert saga.step("pay").timeout_at is None
    held = HeldMessage.objects.get()
    assert (held.paused, held.pause_id, held.action) == (True, pause.pk, "test.set_output")
    kit.advance(hours=1)
    assert ran(kit.saga(saga.pk)) == ["reserve"]
    resumed = manager.resume(action="test.set_*", by="bob", reason="provider back")
    assert resumed.resumed_by == "bob" and not resumed.active
    kit.run()
    done = kit.saga(saga.pk)
    assert done.state == "completed" and ran(done) == ["reserve", "pay"]
    assert not HeldMessage.objects.exists()
    # The pause is its own trail.
    row = Pause.objects.get()
    assert (row.reason, row.resume_reason) == ("provider outage", "provider back")


def test_a_paused_saga_name_holds_every_saga_of_it_and_no_other(kit):
    manager.pause(name="ord*", by="ada", reason="audit")
    held = kit.start("order", two_steps())
    other = kit.start("refund", two_steps())
    assert ran(held) == [] and kit.saga(other.pk).state == "completed"
    manager.resume(name="ord*", by="ada", reason="audit done")
    kit.run()
    assert kit.saga(held.pk).state == "completed"


def test_one_pause_at_a_time_of_a_thing_and_only_a_pause_resumes():
    manager.pause(action="payment.*", by="ada", reason="outage")
    with pytest.raises(InvalidStateTransition, match=r"Action payment\.\* is paused already"):
        manager.pause(action="payment.*", by="bob", reason="again")
    # The same pattern of names is another thing.
    manager.pause(name="payment.*", by="bob", reason="names")
    manager.resume(action="payment.*", by="ada", reason="back")
    with pytest.raises(InvalidStateTransition, match=r"Action payment\.\* is not paused"):
        manager.resume(action="payment.*", by="ada", reason="back")
    # Once resumed, it may be paused again.
    manager.pause(action="payment.*", by="ada", reason="outage again")
    assert [(p.scope, p.pattern) for p in manager.pauses()] == [
        ("action", "payment.*"),
        ("name", "payment.*"),
    ]
    assert len(manager.pauses(active=False)) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Pause either an action or a saga name"),
        ({"action": "a", "name": "b"}, "Pause either an action or a saga name"),
        ({"action": ""}, "the action to pause must be a non-empty string"),
        ({"action": "pay\u202e"}, "the action to pause"),
        ({"name": "x" * 201}, "the saga name to pause"),
    ],
)
def test_a_pause_of_nothing_or_of_a_bad_pattern_is_refused_and_writes_nothing(kwargs, message):
    with pytest.raises(SagaDefinitionError, match=message):
        manager.pause(**kwargs, by="ada", reason="r")
    assert not Pause.objects.exists()


def test_whoever_is_named_as_pausing_says_why():
    with pytest.raises(SagaDefinitionError, match="A reason is required"):
        manager.pause(action="payment.*", by="ada")


def test_pauses_of_actions_need_the_database():
    with pytest.raises(ImproperlyConfigured, match="pauses of actions and saga names live"):
        Manager(MemoryStore()).pause(action="payment.*", by="ada", reason="r")


def test_a_paused_saga_stops_after_its_running_step_and_resumes_where_it_stopped(kit):
    saga = kit.start(
        "order",
        [Step("confirm", "test.pending", ""), Step("reserve", "test.record", "test.undo")],
    )
    assert saga.step("confirm").status == "waiting"
    paused = manager.pause_saga(saga.pk, by="ada", reason="customer on the phone")
    assert paused.paused is True
    with pytest.raises(InvalidStateTransition, match="is paused already"):
        manager.pause_saga(saga.pk, by="ada", reason="again")
    # An outside result is still recorded; the step after it waits.
    manager.complete_step(saga.pk, "confirm", {"ok": True})
    kit.run()
    now = kit.saga(saga.pk)
    assert now.step("confirm").status == "completed"
    assert now.step("reserve").status == "started" and ran(now) == ["confirm"]
    manager.resume_saga(saga.pk, by="ada", reason="call over")
    kit.run()
    done = kit.saga(saga.pk)
    assert done.state == "completed" and ran(done) == ["confirm", "reserve"]
    assert done.paused is False
    trail = [(i.action, i.actor, i.reason, i.details) for i in manager.interventions(saga.pk)]
    assert trail[0][:3] == ("pause", "ada", "customer on the phone")
    assert trail[1][:3] == ("resume", "ada", "call over")
    assert trail[1][3]["sent_again"] == 1
    with pytest.raises(InvalidStateTransition, match="only a saga not finished can be paused"):
        manager.pause_saga(saga.pk, by="ada", reason="too late")


def test_a_saga_paused_in_the_memory_store_holds_and_resumes_too():
    store = MemoryStore()
    memory = Manager(store)
    saga = memory.start("order", two_steps())
    memory.pause_saga(saga.pk, by="ada", reason="hold on")
    from django_saga.processor import Processor

    processor = Processor(store)
    for message in store.claim_due(10, lease=60):
        processor.process(message.body.encode())
    assert store.load_saga(saga.pk).step("reserve").status == "started"
    assert Intervention.objects.count() == 0  # the memory store keeps its own trail
    memory.resume_saga(saga.pk, by="ada", reason="go")
    [again] = store.claim_due(10, lease=60)
    processor.process(again.body.encode())
    assert store.load_saga(saga.pk).step("reserve").status == "completed"
