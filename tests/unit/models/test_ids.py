"""Every row's id: a ULID as its 26-character string."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from ulid import ULID

from django_saga import manager
from django_saga.errors import SagaNotFound
from django_saga.models import OutboxMessage
from django_saga.models.ids import SAGA_ID_MAX_CHARS, new_id, plausible, saga_id_of
from tests.helpers import steps


def test_new_id_is_a_ulid_string_of_the_id_columns_length():
    value = new_id()
    assert isinstance(value, str) and len(value) == SAGA_ID_MAX_CHARS == 26
    assert str(ULID.from_str(value)) == value
    assert new_id() != value


def test_ids_made_one_after_another_sort_in_that_order_within_a_millisecond():
    # Hundreds share a millisecond here: a random part alone would swap many.
    made = [new_id() for _ in range(2000)]
    assert sorted(made) == made
    assert len(set(made)) == len(made)


def test_new_id_carries_the_time_it_was_made_so_that_ids_sort_by_creation():
    made = ULID.from_str(new_id()).datetime
    assert abs(made - timezone.now()) < timedelta(minutes=1)


@pytest.mark.django_db
def test_ids_are_ulid_strings():
    saga = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
    ids = [
        saga.id,
        *(s.id for s in saga.steps),
        *OutboxMessage.objects.values_list("id", flat=True),
    ]
    assert len(ids) == 4
    assert len(set(ids)) == 4
    for value in ids:
        assert isinstance(value, str)
        assert len(value) == 26
        assert str(ULID.from_str(value)) == value


def test_a_string_no_id_column_could_hold_is_no_saga_at_once():
    assert saga_id_of("01M97CY4B4PW3PVXZ8PZDM0E6A") == "01M97CY4B4PW3PVXZ8PZDM0E6A"
    for impossible in ("", "x" * 27, "a\x00b", 7, None):
        with pytest.raises(SagaNotFound, match="No saga with id"):
            saga_id_of(impossible)
    assert plausible("ship", 200) and not plausible("ship", 3) and not plausible(["ship"], 200)
