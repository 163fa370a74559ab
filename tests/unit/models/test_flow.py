"""``HeldMessage``: a message waiting for a slot is one row, however often held."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from django_saga.models import HeldMessage

pytestmark = pytest.mark.django_db


def held(**changes: object) -> HeldMessage:
    fields = {
        "saga_id": "S" * 26,
        "step_id": "T" * 26,
        "kind": "execute",
        "attempt": 1,
        "action": "payment.charge",
        "key": "",
    }
    return HeldMessage(**{**fields, **changes})


def test_one_row_per_message_and_the_ids_give_arrival_order():
    first = held()
    first.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        held().save()
    # Another attempt of the same step is another message.
    second = held(attempt=2)
    second.save()
    assert first.pk < second.pk
    assert str(second) == f"execute of step {'T' * 26} waiting for payment.charge"
