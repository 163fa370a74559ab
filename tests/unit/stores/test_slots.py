"""Slots: counted in the process where the database has no advisory locks,
advisory locks of the running transaction on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from django_saga.limits import Gate
from django_saga.messages import EXECUTE
from django_saga.models import HeldMessage
from django_saga.stores.django import DjangoStore
from django_saga.stores.slots import SLOTS_IN_USE, LocalSlots

GATE = Gate(EXECUTE, "payment.charge", "", 2)


def test_local_slots_are_each_held_once_until_given_back():
    slots = LocalSlots()
    first, second, third = set(), set(), set()
    assert slots.take(GATE.slot_ids(), first)
    assert slots.take(GATE.slot_ids(), second)
    assert not slots.take(GATE.slot_ids(), third)
    assert slots.in_use(GATE.slot_ids()) == 2
    slots.give_back(first)
    assert first == set()
    assert slots.take(GATE.slot_ids(), third)
    assert third == set(GATE.slot_ids()) - second


def in_use() -> int:
    with connection.cursor() as cursor:
        cursor.execute(SLOTS_IN_USE, [GATE.slot_ids()])
        return int(cursor.fetchone()[0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_slot_is_held_until_its_transaction_ends_whatever_the_end():
    store = DjangoStore()
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            mine: set[int] = set()
            assert store.take_slot(cursor, GATE, mine, queued_first=True)
            # The transaction's next unit takes the other slot, not the same again.
            assert store.take_slot(cursor, GATE, mine, queued_first=True)
            assert mine == set(GATE.slot_ids())
            assert not store.take_slot(cursor, GATE, mine, queued_first=True)
            with other.cursor() as seen:
                seen.execute(SLOTS_IN_USE, [GATE.slot_ids()])
                assert seen.fetchone()[0] == 2
        assert in_use() == 0
        with pytest.raises(RuntimeError), transaction.atomic(), connection.cursor() as cursor:
            assert store.take_slot(cursor, GATE, set(), queued_first=True)
            raise RuntimeError("the handler raised")
        assert in_use() == 0
    finally:
        other.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_slot_is_taken_while_older_messages_wait_unless_one_of_them_asks():
    HeldMessage.objects.create(
        saga_id="S" * 26, step_id="T" * 26, kind=EXECUTE, attempt=1, action=GATE.action
    )
    store = DjangoStore()
    with transaction.atomic(), connection.cursor() as cursor:
        assert not store.take_slot(cursor, GATE, set(), queued_first=True)
        assert in_use() == 0
        assert store.take_slot(cursor, GATE, set(), queued_first=False)
