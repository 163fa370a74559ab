"""django_saga.testing.timeline: each saga's timeline, read from its steps' history as it grows."""

from __future__ import annotations

import pytest

from django_saga.testing import Event
from django_saga.testing.timeline import Timelines
from tests.unit.testing.sagas import order_steps

pytestmark = pytest.mark.django_db


def test_a_timeline_grows_by_what_was_written_since_the_last_look(kit):
    saga = kit.start("order", order_steps(fail_times=1))
    timelines = Timelines(kit.store)
    first = timelines.of(saga.pk)
    assert first == [("execute", "reserve", "completed"), ("execute", "charge", "retrying")]
    assert timelines.of(saga.pk) == first  # looking again adds nothing
    kit.advance(minutes=1)
    assert timelines.of(saga.pk)[len(first) :] == [
        Event("execute", "charge", "completed"),
        Event("execute", "payment", "waiting"),
    ]
    assert all(isinstance(event, Event) for event in timelines.of(saga.pk))
