"""PostgreSQL at the driver's level: Django's placeholders numbered, the
engine's statements (and only those) prepared once per connection, their
timestamps loaded as Django's are; a pooler that loses them costs no saga.

The tests marked ``postgres`` run on PostgreSQL only.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_saga import Step, manager
from django_saga.models import OutboxMessage, Saga, SagaState
from django_saga.processor import Processor
from django_saga.stores import get_store
from django_saga.stores.django import DjangoStore
from django_saga.stores.postgres import _numbered, _psycopg_kit
from tests.factories import SagaStepFactory
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def test_prepared_statements_number_djangos_placeholders_once():
    """PostgreSQL's prepared cursor takes the statements written for Django's
    placeholders: ``%s`` become ``$1, $2, ...`` in order, ``%%`` a percent sign."""
    sql = "UPDATE t SET a = %s, b = '100%%' WHERE id = %s AND c LIKE 'x%%'"
    assert _numbered(sql) == b"UPDATE t SET a = $1, b = '100%' WHERE id = $2 AND c LIKE 'x%'"
    assert _numbered(sql) is _numbered(sql)  # converted once, then cached


@pytest.mark.postgres
@pytest.mark.parametrize("zone", [None, UTC, ZoneInfo("Pacific/Chatham")])
def test_prepared_cursors_give_timestamps_as_djangos_loader_does(zone):
    """The engine's cursor parses timestamps with psycopg's compiled loader,
    then puts them in the time zone as Django's own (pure-Python) loader does:
    the same value, the same tzinfo, naive when the zone is None."""
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    kit = _psycopg_kit()
    assert kit is not None
    sql = "SELECT %s::timestamptz, %s::timestamptz"
    params = [
        datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=UTC),
        datetime(1999, 12, 31, tzinfo=UTC),
    ]
    with DjangoStore().statements().cursor() as ours, connection.cursor() as django:
        ours.cursor.adapters.register_loader(kit.timestamptz, kit.zoned_loader(zone))
        register_tzloader(zone, django.cursor)
        ours.execute(sql, params)
        django.execute(sql, params)
        mine, theirs = ours.fetchone(), django.fetchone()
    assert mine == theirs
    assert [v.tzinfo for v in mine] == [v.tzinfo for v in theirs] == [zone, zone]


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


@pytest.mark.postgres
def test_the_engines_statements_are_prepared_on_the_server_and_djangos_are_not():
    """Django connects with psycopg's preparing turned off, which makes psycopg
    ignore the engine cursor's ``prepare=True`` as well: the engine's cursor
    turns it back on for its own statements alone."""
    step = SagaStepFactory(position=0)
    store = DjangoStore()
    for _ in range(2):  # the second time round: the statements prepared before
        with (
            CaptureQueriesContext(connection) as logged,
            store.open_step(step.saga_id, step.pk) as unit,
        ):
            assert unit is not None and unit.step is not None
        assert Saga.objects.filter(pk=step.saga_id).exists()  # one of Django's own
    # Django's query log still shows what ran (psycopg keeps no text for it).
    assert any("FOR UPDATE" in (query["sql"] or "") for query in logged.captured_queries)
    prepared = _prepared()
    # The step locked and its saga read in one statement (no one else held it).
    read = [s for s in prepared if "FOR UPDATE NOWAIT" in s]
    assert len(read) == 1 and '"django_saga_sagastep"."position"' in read[0]
    assert not any("LIMIT 1" in s for s in prepared)  # the ORM's exists()


@pytest.mark.postgres
def test_prepared_statements_off_leaves_nothing_prepared(settings):
    """``PREPARED_STATEMENTS = False`` (behind a pooler that cannot keep them):
    the engine's statements run unprepared, on Django's own cursors."""
    settings.SAGA = {**settings.SAGA, "PREPARED_STATEMENTS": False}
    step = SagaStepFactory(position=0)
    connection.close()  # a session of its own: nothing prepared by earlier tests
    with DjangoStore().open_step(step.saga_id, step.pk) as unit:
        assert unit is not None and unit.step is not None
    assert _prepared() == []


def _lose_them_all() -> None:
    """What a pooler does when the next transaction lands on another server
    connection: the statements psycopg prepared are not there."""
    connection.connection.pgconn.exec_(b"DEALLOCATE ALL")


def _take_the_first_name() -> None:
    """... or on one where another client prepared under the same name."""
    connection.close()
    connection.ensure_connection()
    connection.connection.pgconn.exec_(b"PREPARE _pg3_0 AS SELECT 1")


@pytest.mark.postgres
@pytest.mark.parametrize("pooler", [_lose_them_all, _take_the_first_name])
def test_a_pooler_that_loses_prepared_statements_costs_no_saga(pooler, settings, caplog):
    """The step still runs, once; the process goes on unprepared and says
    which setting tells it so from the start."""
    settings.SAGA = {**settings.SAGA}  # a store of this test's own
    store = get_store()
    processor = Processor(store)
    first = manager.start("pooled", [Step("a", "test.pid", ""), Step("b", "test.pid", "")])
    body = OutboxMessage.objects.get(saga_id=first.pk).body.encode()
    with store.open_step(first.pk, first.steps[0].pk):  # the statements prepared
        pass
    pooler()
    with caplog.at_level(logging.ERROR, logger="django_saga"):
        result = processor.process(body)
    assert result.action == "ack" and len(result.outgoing) == 1
    (error,) = [r for r in caplog.records if "PREPARED_STATEMENTS" in r.getMessage()]
    assert "pooler" in error.getMessage()
    processor.process(result.outgoing[0].body.encode())
    assert manager.get(first.pk).state == SagaState.COMPLETED
    done = Ledger.objects.filter(step_id__in=[s.pk for s in first.steps])
    assert sorted(done.values_list("action", flat=True)) == ["do:a", "do:b"]  # each once
    assert _prepared() == []  # the new connection prepares nothing
