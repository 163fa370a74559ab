"""saga_purge while two saga_engine processes run sagas and purge too (RabbitMQ, PostgreSQL).

The engines purge by HISTORY_RETENTION as they sweep, the command purges the
same sagas with an archive: SKIP LOCKED must split the work between them, no
one may wait on anyone for long, and the sagas the engines are running must
not notice.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_saga import Step, manager
from django_saga.archive import read_archive
from django_saga.models import Saga, SagaStep
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]

OLD = 1500


def old_history() -> tuple[set[str], str]:
    """``OLD`` sagas that finished 40 days ago, and one that failed then."""
    finished = timezone.now() - timedelta(days=40)
    sagas = [
        Saga(name="old", state="completed", completed_at=finished, context={"n": n})
        for n in range(OLD)
    ]
    failed = Saga(name="old", state="failed", error="declined")
    Saga.objects.bulk_create([*sagas, failed])
    SagaStep.objects.bulk_create(
        SagaStep(saga=saga, position=k, stage=k, name=f"s{k}", action="test.record",
                 status="completed", history=[{"kind": "execute", "attempt": 1}])
        for saga in sagas
        for k in range(3)
    )  # fmt: skip
    Saga.objects.filter(pk=failed.pk).update(updated_at=finished)
    return {s.pk for s in sagas}, failed.pk


def test_a_purge_beside_running_engines_takes_only_old_sagas_once(amqp, engine_process, tmp_path):
    old, failed = old_history()
    overrides = {**amqp, "SWEEP_INTERVAL": 0.2, "HISTORY_RETENTION": 30 * 86400}
    for _ in range(2):
        engine_process(overrides, "--concurrency", "3")
    running = [
        manager.start(
            "new",
            [Step(name, "test.record", "test.undo", {"step": name}) for name in "abc"],
        ).id
        for _ in range(30)
    ]
    archive = tmp_path / "old.jsonl.gz"
    out = io.StringIO()
    call_command(
        "saga_purge", "--older-than", "30d", "--batch-size", "20", "--archive", str(archive),
        stdout=out,
    )  # fmt: skip

    for saga_id in running:
        saga = wait_terminal(saga_id, 60)
        assert saga.state == "completed", saga.error
        assert [s.attempts for s in saga.steps] == [1, 1, 1]
        assert Ledger.objects.filter(step_id__in=[s.id for s in saga.steps]).count() == 3
    archived = [line["saga"]["id"] for line in read_archive(archive)]
    # Each saga archived at most once, and only an old finished one.
    assert len(archived) == len(set(archived)) and set(archived) <= old
    assert f"Archived {len(archived):,} sagas" in out.getvalue()
    # Between the command and the engines, every old finished saga went.
    assert not Saga.objects.filter(pk__in=old).exists()
    assert not SagaStep.objects.filter(saga_id__in=old).exists()
    assert Saga.objects.get(pk=failed).state == "failed"
    assert Saga.objects.filter(pk__in=running, state="completed").count() == len(running)
