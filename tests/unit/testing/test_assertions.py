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
