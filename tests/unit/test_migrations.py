"""The migrations: they match the models, and 0005 replaces the state check online."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from django_saga.models import Saga, SagaState
from tests.conftest import on_postgres
from tests.factories import SagaFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_models_need_no_migration_that_is_not_written():
    out = StringIO()
    call_command("makemigrations", "django_saga", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_the_state_check_takes_every_state_and_refuses_others():
    saga = SagaFactory()
    for state in SagaState.values:
        Saga.objects.filter(pk=saga.pk).update(state=state)
        assert Saga.objects.get(pk=saga.pk).state == state
    with pytest.raises(IntegrityError), transaction.atomic():
        Saga.objects.filter(pk=saga.pk).update(state="stuck")


@pytest.mark.postgres
def test_on_postgresql_the_replaced_check_is_validated_and_reverses():
    assert on_postgres()

    def check() -> tuple[bool, str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT convalidated, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conname = 'saga_state_valid'"
            )
            [(validated, definition)] = cursor.fetchall()
        return validated, definition

    validated, definition = check()
    assert validated and "'halted'" in definition
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("django_saga")
    try:
        executor.migrate([("django_saga", "0004_list_indexes")])
        validated, definition = check()
        assert validated and "'halted'" not in definition
    finally:
        MigrationExecutor(connection).migrate(latest)
    validated, definition = check()
    assert validated and "'halted'" in definition
