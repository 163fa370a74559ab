"""start() inside the caller's transaction.atomic(): the saga commits with the
caller's own writes, or leaves nothing behind. On SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
from django.db import connection, transaction

from django_saga import Step, manager, signals
from django_saga.models import OutboxMessage, Saga
from django_saga.stores.postgres import NOTIFY_CHANNEL
from tests.conftest import on_postgres
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


class Received:
    """The saga_started signals sent, in order."""

    def __init__(self) -> None:
        self.sagas: list[str] = []

    def __call__(self, sender, saga, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.sagas.append(saga.pk)


@pytest.fixture
def started():
    received = Received()
    signals.saga_started.connect(received, dispatch_uid="test_caller_transaction")
    yield received
    signals.saga_started.disconnect(dispatch_uid="test_caller_transaction")


def steps() -> list[Step]:
    return [Step("a", "test.record"), Step("b", "test.record")]


def test_the_callers_row_and_the_saga_commit_together(run_engine, started):
    run_engine()
    with transaction.atomic():
        order = Ledger.objects.create(step_id="order-1", action="order placed")
        saga = manager.start("order", steps(), key="order-1")
        # Nothing is announced before the caller's transaction commits.
        assert started.sagas == []
    assert started.sagas == [saga.pk]
    assert Ledger.objects.filter(pk=order.pk).exists()
    assert wait_terminal(saga.id).state == "completed"


def test_a_rollback_leaves_no_saga_no_message_no_signal_and_nothing_runs(run_engine, started):
    run_engine()
    with pytest.raises(RuntimeError, match="payment form invalid"), transaction.atomic():
        Ledger.objects.create(step_id="order-1", action="order placed")
        manager.start("order", steps(), key="order-1")
        raise RuntimeError("payment form invalid")
    assert Saga.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert Ledger.objects.count() == 0
    time.sleep(0.5)  # an engine is running: had anything been sent, it would run now
    assert Ledger.objects.count() == 0
    assert started.sagas == []
    # The key is free: the order can be placed again.
    assert manager.start("order", steps(), key="order-1").created


def test_a_key_already_taken_undoes_only_the_start_not_the_callers_writes(started):
    first = manager.start("order", steps(), key="order-1")
    with transaction.atomic():
        retry = Ledger.objects.create(step_id="order-1", action="request seen again")
        again = manager.start("order", steps(), key="order-1")
        # The refused insert rolled back to its savepoint: the transaction goes on.
        Ledger.objects.create(step_id="order-1", action="after the start")
    assert again.pk == first.pk and again.created is False
    assert Ledger.objects.filter(pk=retry.pk).exists()
    assert Ledger.objects.filter(action="after the start").exists()
    assert Saga.objects.filter(key="order-1").count() == 1
    assert started.sagas == [first.pk]


@pytest.mark.postgres
def test_on_postgresql_the_relays_hear_of_a_saga_only_once_it_commits():
    assert on_postgres()
    listener = connection.get_new_connection(connection.get_connection_params())
    listener.autocommit = True
    try:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

        def heard() -> int:
            return len(list(listener.notifies(timeout=0.3, stop_after=5)))

        with pytest.raises(RuntimeError), transaction.atomic():
            manager.start("order", steps())
            raise RuntimeError("rolled back")
        assert heard() == 0
        with transaction.atomic():
            manager.start("order", steps())
            assert heard() == 0  # not before the commit
        assert heard() == 1
    finally:
        listener.close()
