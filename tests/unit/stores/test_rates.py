"""Turns of a rate: spaced by its interval from the first, shared by every
taker, kept by the test clock when one is set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from django_saga.stores.rates import LocalTurns, PostgresTurns
from django_saga.testing.clock import TestClock, give_back, take_over


@pytest.fixture
def test_clock():
    moved = TestClock()
    saved = take_over(moved)
    try:
        yield moved
    finally:
        give_back(saved)


def takes(turns, n: int, name: str = "execute:pay", interval: float = 0.5) -> list[float]:
    return [round(turns.take(name, interval), 3) for _ in range(n)]


def test_local_turns_are_spaced_and_come_back_to_now_after_a_pause(test_clock):
    turns = LocalTurns()
    assert takes(turns, 3) == [0.0, 0.5, 1.0]
    # Another rate has turns of its own.
    assert takes(turns, 1, name="execute:ship") == [0.0]
    test_clock.advance(timedelta(seconds=10))
    # Idle time is not saved up: the next turn is now, not a burst.
    assert takes(turns, 2) == [0.0, 0.5]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_turns_are_one_row_every_taker_shares(test_clock):
    first, second = PostgresTurns(connection.alias), PostgresTurns(connection.alias)
    try:
        assert takes(first, 2) == [0.0, 0.5]
        # Another engine's taker continues the same turns.
        assert takes(second, 2) == [1.0, 1.5]
        test_clock.advance(timedelta(seconds=10))
        assert takes(second, 1) == [0.0]
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_turns_follow_the_databases_clock_without_a_test_clock():
    turns = PostgresTurns(connection.alias)
    try:
        waits = [turns.take("execute:clock", 60.0) for _ in range(2)]
        assert waits[0] == 0.0
        assert 59.0 < waits[1] <= 60.0
    finally:
        turns.close()
