"""The OutboxMessage model: a row of its own per message, gone with its saga."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from django_saga.models import OutboxMessage
from tests.factories import SagaFactory

pytestmark = pytest.mark.django_db


def row(saga, kind: str = "execute") -> OutboxMessage:
    return OutboxMessage.objects.create(
        saga=saga, kind=kind, body="{}", available_at=timezone.now()
    )


def test_each_row_gets_an_id_of_its_own_that_sorts_by_creation():
    saga = SagaFactory()
    first = row(saga)
    time.sleep(0.002)  # a ULID sorts by its millisecond; within one, at random
    second = row(saga)
    assert len(first.id) == len(second.id) == 26
    assert first.id < second.id  # ULIDs: the broker's message_id, in order
    assert first.sent_at is None


def test_str_names_the_kind_the_row_and_the_saga():
    saga = SagaFactory()
    message = row(saga, "compensate")
    assert str(message) == f"compensate {message.id} for saga {saga.pk}"


def test_a_sagas_messages_are_read_through_it_and_deleted_with_it():
    saga, other = SagaFactory(), SagaFactory()
    mine = {row(saga).id, row(saga, "compensate").id}
    kept = row(other)
    assert set(saga.outbox_messages.values_list("id", flat=True)) == mine
    saga.delete()
    assert list(OutboxMessage.objects.values_list("id", flat=True)) == [kept.id]
