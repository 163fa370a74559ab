"""Flow control's gauges: messages held by action and why, pauses in force,
the limits the handlers of this process declare, and each limited action's
current rate as the engines report it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_saga import clock, gauges, manager
from django_saga.messages import EXECUTE
from django_saga.models import RATE_WINDOW, RUNS_KEPT, ActionRuns, HeldMessage
from django_saga.stores.django import DjangoStore

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


def test_each_limited_action_s_current_rate_is_what_engines_reported_over_a_minute():
    store = DjangoStore()
    store.record_runs({(EXECUTE, "test.paced"): 90, (EXECUTE, "test.limited"): 30})
    store.record_runs({(EXECUTE, "test.paced"): 30})  # another engine, or a later round
    ActionRuns.objects.create(
        kind=EXECUTE,
        action="test.limited",
        runs=600,
        reported_at=clock.now() - timedelta(seconds=RATE_WINDOW + 1),
    )
    found = samples()
    assert found[("django_saga_action_runs_per_second", (EXECUTE, "test.paced"))] == 2.0
    assert found[("django_saga_action_runs_per_second", (EXECUTE, "test.limited"))] == 0.5
    # A limited action nothing reported runs at none a second.
    assert found[("django_saga_action_runs_per_second", (EXECUTE, "test.one_per_key"))] == 0
    assert found[("django_saga_action_rate_limit", (EXECUTE, "test.paced"))] == 20
    assert ("django_saga_action_rate_limit", (EXECUTE, "test.limited")) not in found


def test_a_report_drops_reports_older_than_they_are_kept():
    old = ActionRuns.objects.create(
        kind=EXECUTE,
        action="test.paced",
        runs=5,
        reported_at=clock.now() - timedelta(seconds=RUNS_KEPT + 1),
    )
    kept = ActionRuns.objects.create(
        kind=EXECUTE,
        action="test.paced",
        runs=5,
        reported_at=clock.now() - timedelta(seconds=RUNS_KEPT - 60),
    )
    DjangoStore().record_runs({(EXECUTE, "test.paced"): 1})
    remaining = set(ActionRuns.objects.values_list("pk", flat=True))
    assert old.pk not in remaining and kept.pk in remaining and len(remaining) == 2
