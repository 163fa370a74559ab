"""django_saga.schema: migration operations that leave writers running on PostgreSQL.

Each runs on a table of its own (``schema_tests_parcel``), made and dropped
by the test. On PostgreSQL outside a transaction an index is built
``CONCURRENTLY`` and a check is added ``NOT VALID`` then validated; in a
transaction, and on other databases, the plain operation runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, models, transaction
from django.db.migrations.state import ModelState, ProjectState
from django.test.utils import CaptureQueriesContext

from django_saga.schema import AddIndexOnline, AddUniqueIndexOnline, ReplaceCheckOnline
from tests.conftest import on_postgres

pytestmark = pytest.mark.django_db(transaction=True)

APP = "schema_tests"
WEIGHT_INDEX = models.Index(fields=["weight"], name="parcel_weight_idx")
ONE_UNSENT = models.UniqueConstraint(
    fields=["ref"], condition=models.Q(sent=False), name="parcel_one_unsent"
)
NOT_NEGATIVE = models.CheckConstraint(condition=models.Q(weight__gte=0), name="parcel_weight")
POSITIVE = models.CheckConstraint(condition=models.Q(weight__gt=0), name="parcel_weight")


def parcels(*constraints: models.BaseConstraint) -> ProjectState:
    state = ProjectState()
    fields = [
        ("id", models.AutoField(primary_key=True)),
        ("ref", models.CharField(max_length=10)),
        ("weight", models.IntegerField()),
        ("sent", models.BooleanField(default=False)),
    ]
    state.add_model(ModelState(APP, "parcel", fields, {"constraints": list(constraints)}))
    return state


def forwards(operation, before: ProjectState, *, collect: bool = True) -> tuple[ProjectState, str]:
    """Run ``operation`` on ``before``: the state after, and the SQL (only collected, if asked)."""
    after = before.clone()
    operation.state_forwards(APP, after)
    with (
        CaptureQueriesContext(connection) as ran,
        connection.schema_editor(collect_sql=collect, atomic=False) as editor,
    ):
        operation.database_forwards(APP, editor, before, after)
    sql = editor.collected_sql if collect else [query["sql"] for query in ran.captured_queries]
    return after, "\n".join(sql)


@pytest.fixture
def table() -> Iterator[None]:
    """The parcel table with its non-negative weight check, dropped afterwards."""
    model = parcels(NOT_NEGATIVE).apps.get_model(APP, "parcel")
    with connection.schema_editor() as editor:
        editor.create_model(model)
    yield
    with connection.schema_editor() as editor:
        editor.delete_model(model)


def test_an_index_is_built_concurrently_on_postgresql_outside_a_transaction():
    _, sql = forwards(AddIndexOnline("parcel", WEIGHT_INDEX), parcels())
    assert sql.startswith("CREATE INDEX")
    assert ("CONCURRENTLY" in sql) is on_postgres()


def test_a_partial_unique_index_is_built_concurrently_on_postgresql():
    after, sql = forwards(AddUniqueIndexOnline("parcel", ONE_UNSENT), parcels())
    assert sql.startswith("CREATE UNIQUE INDEX") and "WHERE" in sql
    assert ("CONCURRENTLY" in sql) is on_postgres()
    assert after.models[APP, "parcel"].options["constraints"] == [ONE_UNSENT]


@pytest.mark.postgres
def test_in_a_transaction_postgresql_builds_the_plain_index():
    """CONCURRENTLY cannot run in a transaction: a migration left atomic still applies."""
    with transaction.atomic():
        _, index = forwards(AddIndexOnline("parcel", WEIGHT_INDEX), parcels())
        _, unique = forwards(AddUniqueIndexOnline("parcel", ONE_UNSENT), parcels())
    assert "CONCURRENTLY" not in index + unique


def test_a_check_is_replaced_under_its_name_and_put_back_by_the_reverse(table):
    replace = ReplaceCheckOnline("parcel", POSITIVE)
    assert replace.describe() == "Replace constraint parcel_weight on model parcel"
    before = parcels(NOT_NEGATIVE)
    after, sql = forwards(replace, before, collect=False)
    assert after.models[APP, "parcel"].options["constraints"] == [POSITIVE]
    if on_postgres():
        assert "NOT VALID" in sql and 'VALIDATE CONSTRAINT "parcel_weight"' in sql
    parcel = after.apps.get_model(APP, "parcel")
    with pytest.raises(IntegrityError), transaction.atomic():
        parcel.objects.create(ref="p0", weight=0)
    parcel.objects.create(ref="p1", weight=1)

    with connection.schema_editor(atomic=False) as editor:
        replace.database_backwards(APP, editor, after, before)
    parcel.objects.create(ref="p2", weight=0)  # weight >= 0 again
    assert parcel.objects.count() == 2


def test_a_check_the_rows_break_fails_the_migration_and_new_rows_are_still_checked(table):
    parcel = parcels(NOT_NEGATIVE).apps.get_model(APP, "parcel")
    parcel.objects.create(ref="p0", weight=0)
    with pytest.raises(IntegrityError):
        forwards(ReplaceCheckOnline("parcel", POSITIVE), parcels(NOT_NEGATIVE), collect=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        parcel.objects.create(ref="p-1", weight=-1)
