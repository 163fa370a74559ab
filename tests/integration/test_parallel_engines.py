"""Advanced patterns with two saga_engine processes on RabbitMQ and PostgreSQL.

The siblings of a stage meet at a barrier (files in a temporary directory)
before finishing, so they finish within milliseconds of each other, often in
different processes, and race for the saga row: the fan-in must still decide
exactly once.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from django_saga import Step, manager, parallel
from django_saga.models import OutboxMessage, Saga
from django_saga.webhook import signature_headers
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]

SECRET = "integration-secret-of-at-least-32-characters"


@pytest.fixture
def two_engines(amqp, engine_process, settings):
    overrides = {**amqp, "SWEEP_INTERVAL": 0.2, "WEBHOOK_SECRET": SECRET}
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": SECRET}
    # Prefetch no larger than the worker threads: every sibling a process
    # takes runs at once, so siblings never wait behind each other.
    for _ in range(2):
        engine_process(overrides, "--concurrency", "3", "--prefetch", "3")


def barrier_stage(tmp_path, *names: str, fail: str = "") -> object:
    return parallel(
        *(
            Step(
                name,
                "test.barrier",
                "test.undo",
                {"dir": str(tmp_path), "parties": len(names), "fail": name == fail},
            )
            for name in names
        )
    )


def record(name: str) -> Step:
    return Step(name, "test.record", "test.undo", {"step": name})


def ledger(saga: Saga, prefix: str) -> list[str]:
    names = {s.id: s.name for s in saga.steps}
    rows = Ledger.objects.filter(step_id__in=names, action__startswith=prefix).order_by("id")
    return [names[r.step_id] for r in rows]


def test_a_stage_of_three_meets_and_the_next_stage_is_dispatched_once(two_engines, tmp_path):
    pids: set[int] = set()
    for _ in range(8):
        saga = manager.start(
            "fan-in",
            [record("a"), barrier_stage(tmp_path, "b", "c", "d"), Step("e", "test.pid", "")],
        )
        saga = wait_terminal(saga.id, 30)
        assert saga.state == "completed", saga.error
        e = saga.step("e")
        assert e.attempts == 1
        assert Ledger.objects.filter(step_id=e.id).count() == 1
        # Dispatched once (its first attempt ran, once), by an engine with no outbox row.
        assert not OutboxMessage.objects.filter(body__contains=e.id).exists()
        siblings = [saga.step(n) for n in "bcd"]
        assert all(s.attempts == 1 and s.status == "completed" for s in siblings)
        assert max(s.executed_at for s in siblings) <= e.started_at
        pids.update(s.output["pid"] for s in siblings)
    assert len(pids) == 2, "the siblings never ran in both engine processes"


def test_a_failure_in_a_stage_compensates_siblings_then_earlier_stages(two_engines, tmp_path):
    for _ in range(3):
        saga = manager.start(
            "fan-in-failure",
            [record("a"), barrier_stage(tmp_path, "b", "c", "d", fail="c"), record("e")],
        )
        saga = wait_terminal(saga.id, 30)
        assert saga.state == "compensated"
        assert [saga.step(n).status for n in "abcde"] == [
            "compensated",
            "compensated",
            "failed",
            "compensated",
            "cancelled",
        ]
        undone = ledger(saga, "undo:")
        assert sorted(undone[:2]) == ["b", "d"] and undone[2:] == ["a"]
        assert all(saga.step(n).compensation_attempts == 1 for n in "abd")
        assert "e" not in ledger(saga, "do:")


def test_outside_results_through_the_webhook_and_the_manager(two_engines):
    by_webhook = manager.start("pay", [record("a"), Step("pay", "test.pending"), record("c")])
    by_manager = manager.start("pay", [record("a"), Step("pay", "test.pending"), record("c")])
    for saga in (by_webhook, by_manager):
        wait_for(
            lambda saga=saga: manager.get(saga.id).step("pay").status == "waiting",
            20,
            "the payment step to wait",
        )
    pay = manager.get(by_webhook.id).step("pay")
    body = json.dumps(
        {
            "saga_id": pay.saga_id,
            "step_id": pay.id,
            "attempt": pay.attempts,
            "status": "completed",
            "output": {"ok": 1},
        }
    ).encode()
    client = Client()

    forged = client.post(
        "/sagas/webhook/",
        body,
        content_type="application/json",
        headers=signature_headers(body, "guessed"),
    )
    assert forged.status_code == 401
    assert manager.get(by_webhook.id).step("pay").status == "waiting"

    signed = {"headers": signature_headers(body, SECRET)}
    response = client.post("/sagas/webhook/", body, content_type="application/json", **signed)
    assert response.status_code == 200 and response.json()["recorded"] is True
    manager.complete_step(by_manager.id, "pay", {"ok": 2})

    for saga, ok in ((by_webhook, 1), (by_manager, 2)):
        done = wait_terminal(saga.id, 30)
        assert done.state == "completed"
        assert done.step("pay").output == {"ref": "ext-pay", "ok": ok}
        assert ledger(done, "do:") == ["a", "pay", "c"]
    repeat = client.post("/sagas/webhook/", body, content_type="application/json", **signed)
    assert repeat.status_code == 200 and repeat.json()["recorded"] is False


def test_a_pending_step_times_out_and_the_saga_is_compensated(two_engines):
    saga = manager.start(
        "pay", [record("a"), Step("pay", "test.pending_once", "test.undo", {"wait": 0.5})]
    )
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "compensated"
    # Its handler committed and started outside work: undone too, first.
    assert saga.step("pay").status == "compensated"
    assert "no outside result" in saga.step("pay").error
    assert ledger(saga, "undo:") == ["pay", "a"]


def test_a_skipped_step_is_not_compensated(two_engines):
    saga = manager.start(
        "gift",
        [
            record("a"),
            Step("wrap", "test.skip_unless", "test.undo", {"flag": "gift"}),
            Step("c", "test.fail", "test.undo"),
        ],
    )
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "compensated"
    assert saga.step("wrap").status == "skipped"
    assert ledger(saga, "undo:") == ["a"]
