"""Retention: what saga_purge and the engine's sweep delete, keep, count and archive.

On both databases (the PostgreSQL pass runs the batches with SKIP LOCKED).
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_saga import manager
from django_saga.archive import read_archive
from django_saga.models import Intervention, OutboxMessage, Saga, SagaStep
from django_saga.processor import Processor
from django_saga.retention import RetentionError, purge
from django_saga.stores.django import DjangoStore
from django_saga.stores.memory import MemoryStore
from django_saga.sweeper import Sweeper
from tests.unit.purging import DAY, finished, remaining, run

pytestmark = pytest.mark.django_db


def test_only_finished_sagas_past_the_age_go_with_their_steps_and_outbox_rows():
    old = [finished("completed", 40 * DAY), finished("compensated", 31 * DAY)]
    young = finished("completed", 29 * DAY)
    # Never purged by age, however old: an operator still has work there.
    kept = [
        finished("failed", 400 * DAY),
        finished("compensation_failed", 400 * DAY),
        finished("started", 400 * DAY),
        finished("compensating", 400 * DAY),
    ]
    Saga.objects.filter(pk__in=[s.pk for s in kept]).update(updated_at=timezone.now() - 400 * DAY)
    report = purge(30 * DAY)
    assert report.sagas == 2 and report.steps == 4
    assert dict(report.by_state) == {"completed": 1, "compensated": 1}
    assert remaining() == {young.pk, *(s.pk for s in kept)}
    assert not SagaStep.objects.filter(saga_id__in=[s.pk for s in old]).exists()
    assert not OutboxMessage.objects.filter(saga_id__in=[s.pk for s in old]).exists()
    assert SagaStep.objects.filter(saga_id=young.pk).count() == 2


def trail_entry(saga_id: str, ago: timedelta, reason: str) -> Intervention:
    return Intervention.objects.create(
        saga_id=saga_id,
        action="compensate",
        actor="clerk",
        reason=reason,
        at=timezone.now() - ago,
    )


def test_the_operators_trail_outlives_its_purged_saga(settings):
    settings.SAGA = {**settings.SAGA, "AUDIT_RETENTION": 400 * 24 * 3600}
    gone = finished("compensated", 40 * DAY)
    trail_entry(gone.pk, 41 * DAY, "customer asked")
    purge(30 * DAY)
    assert gone.pk not in remaining()
    # Who did what to the saga, and why, can still be read.
    assert [(e.actor, e.reason) for e in manager.interventions(gone.pk)] == [
        ("clerk", "customer asked")
    ]


def test_the_trail_goes_after_audit_retention_and_only_once_its_saga_is_gone(settings):
    settings.SAGA = {**settings.SAGA, "AUDIT_RETENTION": 365 * 24 * 3600}
    purged_long_ago = trail_entry("01PURGEDLONGAGO00000000000", 400 * DAY, "old and orphaned")
    purged_lately = trail_entry("01PURGEDLATELY000000000000", 100 * DAY, "young and orphaned")
    halted = finished("failed", 500 * DAY)
    of_a_saga_kept = trail_entry(halted.pk, 500 * DAY, "the saga still waits")
    text = run("--older-than", "30d", "--dry-run")
    assert "Would delete 1 entries of the operators' trail past AUDIT_RETENTION" in text
    assert Intervention.objects.count() == 3
    report = purge(30 * DAY)
    assert report.trail == 1
    left = set(Intervention.objects.values_list("pk", flat=True))
    assert left == {purged_lately.pk, of_a_saga_kept.pk}
    assert purged_long_ago.pk not in left


def test_audit_retention_none_keeps_the_trail_for_ever(settings):
    settings.SAGA = {**settings.SAGA, "AUDIT_RETENTION": None}
    entry = trail_entry("01PURGEDLONGAGO00000000000", 9000 * DAY, "kept")
    assert purge(30 * DAY).trail == 0
    assert Intervention.objects.filter(pk=entry.pk).exists()


def test_a_purge_goes_in_batches_oldest_first():
    sagas = [finished("completed", (40 - i) * DAY) for i in range(7)]
    seen: list[int] = []
    report = purge(30 * DAY, batch_size=3, on_batch=lambda r: seen.append(r.sagas))
    assert report.batches == 3 and seen == [3, 6, 7]
    assert report.sagas == 7 and not remaining() & {s.pk for s in sagas}


def test_a_budget_stops_after_the_batch_that_spends_it():
    for i in range(5):
        finished("completed", (40 + i) * DAY)
    report = purge(30 * DAY, batch_size=2, budget=0.0)
    assert report.batches == 1 and report.sagas == 2
    assert Saga.objects.count() == 3


def test_states_and_names_narrow_a_purge():
    order = finished("completed", 40 * DAY, name="order")
    refund = finished("completed", 40 * DAY, name="refund")
    undone = finished("compensated", 40 * DAY, name="order")
    purge(30 * DAY, states=["compensated"])
    assert remaining() == {order.pk, refund.pk}
    purge(30 * DAY, names=["refund"])
    assert remaining() == {order.pk}
    assert undone.pk not in remaining()


@pytest.mark.parametrize("state", ["failed", "compensation_failed", "started", "compensating"])
def test_a_state_that_still_needs_work_is_refused_by_name(state):
    finished("completed", 40 * DAY)
    with pytest.raises(RetentionError, match=f"{state} are never purged"):
        purge(30 * DAY, states=["completed", state])
    assert Saga.objects.count() == 1


def test_bad_batch_sizes_and_ages_are_refused():
    with pytest.raises(RetentionError, match="batch size must be from 1 to 10000, got 0"):
        purge(30 * DAY, batch_size=0)
    with pytest.raises(RetentionError, match="must not be negative"):
        purge(-1)


def test_a_dry_run_counts_and_deletes_nothing():
    finished("completed", 40 * DAY)
    finished("compensated", 40 * DAY, steps=3)
    finished("completed", DAY)
    report = purge(30 * DAY, dry_run=True)
    assert (report.sagas, report.steps, report.batches) == (2, 5, 0)
    assert dict(report.by_state) == {"completed": 1, "compensated": 1}
    assert Saga.objects.count() == 3


# -- the command ------------------------------------------------------------


def test_the_command_purges_and_says_what_it_did(tmp_path):
    finished("completed", 40 * DAY)
    finished("compensated", 40 * DAY)
    finished("failed", 40 * DAY)
    path = tmp_path / "a.gz"
    text = run("--older-than", "30d", "--batch-size", "1", "--archive", str(path))
    assert "Purged 2 sagas (4 steps) that finished more than 30d ago" in text
    assert "1 completed, 1 compensated. 2 batches in" in text
    assert f"Archived 2 sagas to {path}" in text
    assert len(list(read_archive(path))) == 2
    assert list(Saga.objects.values_list("state", flat=True)) == ["failed"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_command_shows_its_progress_batch_by_batch():
    for _ in range(3):
        finished("completed", 40 * DAY)
    out = Terminal()
    call_command("saga_purge", "--older-than", "30d", "--batch-size", "2", stdout=out)
    lines = out.getvalue().split("\r")
    assert lines[1].startswith("Purged 2 sagas in 1 batches (")
    assert lines[2].startswith("Purged 3 sagas in 2 batches (")
    # The summary starts on a line of its own.
    summary = "\nPurged 3 sagas (6 steps) that finished more than 30d ago: 3 completed. 2 batches"
    assert summary in lines[2]


def test_the_command_dry_run_and_its_defaults(settings):
    finished("completed", 40 * DAY)
    finished("completed", 10 * DAY)
    assert run("--dry-run").startswith(
        "Would purge 1 sagas (2 steps) that finished more than 30d ago: 1 completed."
    )
    settings.SAGA = {**settings.SAGA, "HISTORY_RETENTION": 5 * 86400}
    assert "Would purge 2 sagas" in run("--dry-run")
    assert Saga.objects.count() == 2
    settings.SAGA = {**settings.SAGA, "HISTORY_RETENTION": None}
    with pytest.raises(CommandError, match=r"HISTORY_RETENTION is None \(keep everything\): pass"):
        run()
    assert "Would purge 1 sagas" in run("--dry-run", "--older-than", "20d")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "soon"], "'soon' is not an age"),
        (["--older-than=-3d"], "'-3d' is not an age"),
        (["--older-than", "1e999"], "'1e999' is not an age"),
        (["--older-than", "99999999999w"], "over the limit of 36,600 days"),
        (["--batch-size", "0"], "batch size must be from 1 to 10000"),
        (["--dry-run", "--archive", "x.gz"], "would archive nothing"),
    ],
)
def test_the_command_refuses_bad_arguments_by_name(args, message):
    finished("completed", 40 * DAY)
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert Saga.objects.count() == 1


def test_the_command_offers_only_the_states_that_may_be_purged():
    with pytest.raises(CommandError, match="invalid choice: 'failed'"):
        run("--state", "failed")


# -- the engine's sweep -----------------------------------------------------
def sweeper(store) -> Sweeper:  # type: ignore[no-untyped-def]
    return Sweeper(store, Processor(store))


def test_an_engine_sweep_purges_by_the_retention_setting(settings):
    old = finished("completed", 40 * DAY)
    young = finished("completed", DAY)
    settings.SAGA = {**settings.SAGA, "PURGE_IN_ENGINE": False}
    assert sweeper(DjangoStore()).sweep().purged == 0
    settings.SAGA = {**settings.SAGA, "PURGE_IN_ENGINE": True, "HISTORY_RETENTION": None}
    assert sweeper(DjangoStore()).sweep().purged == 0
    assert remaining() == {old.pk, young.pk}
    settings.SAGA = {**settings.SAGA, "HISTORY_RETENTION": 30 * 86400}
    assert sweeper(DjangoStore()).sweep().purged == 1
    assert remaining() == {young.pk}


def test_the_memory_store_purges_the_same_way():
    store = MemoryStore()
    now = timezone.now()
    for state, ago in (("completed", 40), ("compensated", 40), ("failed", 40), ("completed", 1)):
        saga = Saga(name="order", state=state, completed_at=now - ago * DAY)
        saga.set_steps([])
        store.save_saga(saga)
    assert store.purge_finished(30 * 86400, budget=1.0) == 2
    assert sorted(s.state for s in store._sagas.values()) == ["completed", "failed"]
