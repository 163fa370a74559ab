"""django_saga.testing.assertions: what assert_saga compares, and what it says when it fails."""

from __future__ import annotations

import pytest

from django_saga import Step
from tests.unit.testing.sagas import failing_steps

pytestmark = pytest.mark.django_db


def test_skipped_steps_and_a_failing_assertion_that_shows_the_timeline(kit):
    steps = [Step("reserve", "kit.reserve", "kit.release"), Step("wrap", "kit.wrap")]
    saga = kit.start("gift", steps, {"gift": False})
    kit.assert_saga(saga, "completed", ran=["reserve"], skipped=["wrap"])
    with pytest.raises(AssertionError) as failed:
        kit.assert_saga(saga, "compensated", ran=["wrap", "reserve"])
    message = str(failed.value)
    assert "state: expected 'compensated', got 'completed'" in message
    assert "ran: expected ['wrap', 'reserve'], got ['reserve']" in message
    assert "execute wrap: skipped" in message


def test_a_failing_assertion_shows_the_sagas_warnings(kit):
    saga = kit.start("doomed", failing_steps())
    with pytest.raises(AssertionError) as failed:
        kit.assert_saga(saga, "completed")
    message = str(failed.value)
    assert "Its warnings in the log:" in message
    assert "outcome=failed" in message and "the warehouse is on fire" in message


def test_assert_saga_speaks_of_a_maps_items_and_the_child_sagas(kit):
    from django_saga import child, each
    from tests.testapp.sagas import ShipParcel

    saga = kit.start(
        "order",
        [
            each("ship", ShipParcel, over="context.parcels"),
            child("last", ShipParcel(parcel={"label": "fail"})),
        ],
        {"parcels": ["a", "b"]},
    )
    kit.assert_saga(
        saga,
        "compensated",
        items={"ship": {"compensated": 2}},
        children={"ship[0]": "compensated", "ship[1]": "compensated", "last": "compensated"},
    )
    with pytest.raises(AssertionError) as failed:
        kit.assert_saga(saga, items={"ship": {"completed": 2}}, children={"last": "completed"})
    message = str(failed.value)
    # A child step's end is in the timeline, as its kind "child".
    assert "child ship[0]: completed" in message
    assert "items: expected {'ship': {'completed': 2}}, got {'ship': {'compensated': 2}}" in message
    assert "children: expected {'last': 'completed'}, got {" in message
    assert "'last': 'compensated'}" in message
