"""Flow control's gauges: messages held by action and why, pauses in force,
and the limits the handlers of this process declare."""

from __future__ import annotations

import pytest

from django_saga import gauges, manager
from django_saga.messages import EXECUTE
from django_saga.models import HeldMessage

pytestmark = pytest.mark.django_db


def samples() -> dict[tuple[str, tuple[str, ...]], float]:
    found = {}
    for family in gauges.flow():
        for sample in family.samples:
            found[(sample.name, tuple(sample.labels.values()))] = sample.value
    return found


def test_held_messages_pauses_and_limits_are_gauged():
    for n, paused in ((1, False), (2, False), (3, True)):
        HeldMessage.objects.create(
            saga_id=f"S{n}", step_id=f"T{n}", kind=EXECUTE, attempt=1,
            action="test.limited", paused=paused,
        )  # fmt: skip
    manager.pause(action="test.limited", by="ada", reason="provider outage")
    found = samples()
    assert found[("django_saga_held_messages", (EXECUTE, "test.limited", "slot"))] == 2
    assert found[("django_saga_held_messages", (EXECUTE, "test.limited", "pause"))] == 1
    assert found[("django_saga_pauses", ())] == 1
    # The test app's handlers declare these.
    assert found[("django_saga_action_limit", (EXECUTE, "test.limited"))] == 5
    assert found[("django_saga_action_limit", (EXECUTE, "test.one_per_key"))] == 1
    assert ("django_saga_action_limit", (EXECUTE, "test.paced")) not in found  # a rate only


@pytest.mark.postgres
def test_the_slots_in_use_are_those_some_transaction_holds():
    from django.db import connection

    from django_saga.limits import Gate

    other = connection.get_new_connection(connection.get_connection_params())
    try:
        with other.transaction():
            [slot, *_] = Gate(EXECUTE, "test.limited", "", 5).slot_ids()
            other.execute("SELECT pg_advisory_xact_lock(%s)", [slot])
            assert samples()[("django_saga_action_slots_in_use", (EXECUTE, "test.limited"))] == 1
        assert samples()[("django_saga_action_slots_in_use", (EXECUTE, "test.limited"))] == 0
    finally:
        other.close()
