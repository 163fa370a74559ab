"""``DjangoStore``: opening a step's unit reads its saga, or nothing.

Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from django_saga.stores.django import DjangoStore
from tests.factories import SagaStepFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_saga_whose_positions_do_not_start_at_zero_is_still_read():
    step = SagaStepFactory(position=5, status="started", attempts=1)
    with DjangoStore().open_step(step.saga_id, step.pk) as unit:
        assert unit is not None
        assert unit.saga.pk == step.saga_id and unit.saga.name == step.saga.name
        assert [s.pk for s in unit.saga.steps] == [step.pk]


def test_an_unknown_step_reads_as_none():
    store = DjangoStore()
    with transaction.atomic(), store.statements().cursor() as cursor:
        assert store._lock_step(cursor, "01UNKNOWN0000000000000000") is None
