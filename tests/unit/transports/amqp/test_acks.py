"""django_saga.transports.amqp.acks: acks merged without settling a delivery still unsettled."""

from __future__ import annotations

from django_saga.transports.amqp.acks import merged


def test_with_nothing_unsettled_one_multiple_ack_settles_them_all():
    assert merged([1, 2, 3], None) == [(3, True)]


def test_a_single_ack_is_not_multiple():
    assert merged([5], None) == [(5, False)]


def test_a_multiple_ack_stops_below_the_lowest_unsettled_delivery():
    # Delivery 3 is still being worked on (or dead-lettered): a multiple ack
    # for 4 would settle it too.
    assert merged([1, 2, 4, 5], 3) == [(2, True), (4, False), (5, False)]


def test_with_nothing_below_the_unsettled_each_is_acked_alone():
    assert merged([4, 5], 1) == [(4, False), (5, False)]


def test_no_acks_asked_for_sends_none():
    assert merged([], None) == []
    assert merged([], 7) == []
