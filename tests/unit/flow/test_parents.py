"""flow.parents: a child saga's end is told to its parent's step, through the outbox."""

from __future__ import annotations

from django_saga import flow
from django_saga.flow.parents import tell_parent
from django_saga.messages import SETTLE, decode

from .helpers import build, run_to_completed, unit_for


def test_a_child_that_ends_sends_its_parents_step_a_relayed_settle():
    saga = build(("book",))
    saga.parent_id, saga.parent_step_id = "01PARENT", "01PARENTSTEP"
    flow.start(unit_for(saga))
    unit = unit_for(saga, "book")
    flow.step_succeeded(unit, unit.step, {}, 1)
    assert unit.saga.state == "completed"
    # An outbox row even on the engine's own path: no redelivery brings it back.
    assert not unit.outgoing
    ((message, delay),) = unit.delayed
    assert delay == 0
    body = decode(message.body.encode(), 10_000)
    assert (body.kind, body.saga_id, body.step_id, body.attempt) == (
        SETTLE,
        "01PARENT",
        "01PARENTSTEP",
        1,
    )


def test_a_saga_with_no_parent_tells_no_one():
    saga = build(("book",))
    flow.start(unit_for(saga))
    run_to_completed(saga, "book")
    unit = unit_for(saga)
    tell_parent(unit)
    assert not unit.outgoing and not unit.delayed
