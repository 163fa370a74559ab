"""django_saga.models.lazy_json: the engine's reads leave JSON columns as text
until a handler reads them, and nothing written back is the worse for it."""

from __future__ import annotations

import pytest
from django.db import transaction

from django_saga.models import Saga, SagaStep
from django_saga.models.lazy_json import LazyJSONField, RawJSON
from django_saga.stores.django import DjangoStore
from tests.factories import SagaFactory, SagaStepFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def step() -> SagaStep:
    saga = SagaFactory(context={"lines": list(range(1000)), "who": "ada"})
    return SagaStepFactory(saga=saga, position=0, output={"n": 1}, history=[{"kind": "x"}])


def _engine_read(step: SagaStep) -> SagaStep:
    sql = DjangoStore().statements()
    with sql.cursor() as cursor:
        cursor.execute(sql.saga_with_steps, [step.saga_id, step.pk])
        rows = cursor.fetchall()
    width = sql.step.width
    found = sql.step.instance(rows[0][:width], "default")
    found.saga = sql.saga.instance(rows[0][width:-1], "default")  # the last: any pause
    return found


def test_an_engine_read_parses_a_json_column_when_it_is_first_read(step):
    read = _engine_read(step)
    saga = read.saga
    assert type(saga.__dict__["context"]) is RawJSON
    assert saga.context == {"lines": list(range(1000)), "who": "ada"}
    # Parsed once, then kept.
    assert type(saga.__dict__["context"]) is dict
    assert saga.context is saga.context
    assert read.output == {"n": 1} and read.history == [{"kind": "x"}]


def test_the_orm_parses_as_ever():
    SagaFactory(context={"a": 1})
    assert Saga.objects.values_list("context", flat=True).get() == {"a": 1}
    assert type(Saga.objects.get().__dict__["context"]) is dict


def test_a_column_never_read_is_written_back_as_the_json_it_was(step):
    read = _engine_read(step)
    sql = DjangoStore().statements()
    with transaction.atomic(), sql.cursor() as cursor:
        sql.step.update_many(cursor, [read], ["output", "history"])
        sql.saga.update_many(cursor, [read.saga], ["context"])
    fresh = SagaStep.objects.select_related("saga").get(pk=step.pk)
    assert (fresh.output, fresh.history) == ({"n": 1}, [{"kind": "x"}])
    assert fresh.saga.context == {"lines": list(range(1000)), "who": "ada"}


def test_a_value_set_replaces_the_text_not_yet_read(step):
    read = _engine_read(step)
    read.output = {"n": 2}
    assert read.output == {"n": 2}


def test_migrations_see_a_json_field():
    field = Saga._meta.get_field("context")
    assert isinstance(field, LazyJSONField)
    assert field.deconstruct()[1] == "django.db.models.JSONField"
