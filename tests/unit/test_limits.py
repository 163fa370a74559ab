"""Declaring a concurrency limit: what a registration accepts, the queue a
saga's runs belong to, and the slots each queue has."""

from __future__ import annotations

import pytest

from django_saga import step_handler
from django_saga.limits import MAX_CONCURRENCY, Gate, Limit, Rate
from django_saga.messages import COMPENSATE, EXECUTE
from django_saga.registry import HandlerRegistry, registry


@pytest.mark.parametrize(
    ("concurrency", "per", "message"),
    [
        (0, None, "concurrency for 'pay' must be a whole number from 1 to 1000, got 0"),
        (MAX_CONCURRENCY + 1, None, "got 1001"),
        (2.5, None, "got 2.5"),
        (True, None, "got True"),
        (None, "key", "per='key' for 'pay' needs a concurrency limit"),
        (3, "customer", "per for 'pay' must be None or 'key', got 'customer'"),
    ],
)
def test_a_bad_limit_is_refused_naming_what_is_wrong(concurrency, per, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Limit.declared(concurrency, per, "pay")


def test_no_concurrency_means_no_limit():
    assert Limit.declared(None, None, "pay") is None


def test_a_limit_per_key_keeps_one_queue_per_saga_key():
    assert Limit(5).key_of("customer-1", "saga-1") == ""
    per_key = Limit(1, "key")
    assert per_key.key_of("customer-1", "saga-1") == "customer-1"
    # A saga without a key is a queue of its own.
    assert per_key.key_of("", "saga-1") == "saga-1"


def test_each_queue_has_its_own_slots_and_always_the_same():
    slots = Gate(EXECUTE, "pay", "", 3).slot_ids()
    assert len(set(slots)) == 3
    assert Gate(EXECUTE, "pay", "", 3).slot_ids() == slots
    assert all(-(2**63) <= slot < 2**63 for slot in slots)  # a bigint each
    others = [
        Gate(EXECUTE, "pay", "customer-1", 3),
        Gate(COMPENSATE, "pay", "", 3),
        Gate(EXECUTE, "ship", "", 3),
    ]
    for other in others:
        assert not set(other.slot_ids()) & set(slots)
    # A larger limit adds slots to the same ones.
    assert Gate(EXECUTE, "pay", "", 5).slot_ids()[:3] == slots


def test_the_decorators_register_the_limit_with_the_handler():
    handlers = HandlerRegistry()
    handlers.register(EXECUTE, "pay", lambda saga, step: {}, limit=Limit(10))
    assert handlers.limit(EXECUTE, "pay") == Limit(10)
    assert handlers.limit(COMPENSATE, "pay") is None
    assert handlers.limit(EXECUTE, "unknown") is None
    assert handlers.limited() == [(EXECUTE, "pay", Limit(10))]

    @step_handler("test.limits.decorated", concurrency=2, per="key")
    def decorated(saga, step):
        return {}

    try:
        assert registry.limit(EXECUTE, "test.limits.decorated") == Limit(2, "key")
    finally:
        registry.unregister(EXECUTE, "test.limits.decorated")


def test_a_bad_limit_on_a_decorator_registers_nothing():
    with pytest.raises(ValueError, match="concurrency"):

        @step_handler("test.limits.refused", concurrency=-1)
        def refused(saga, step):
            return {}

    assert not registry.has(EXECUTE, "test.limits.refused")


@pytest.mark.parametrize(
    ("text", "count", "seconds", "interval"),
    [("50/s", 50, 1.0, 0.02), ("300/m", 300, 60.0, 0.2), (" 1 / h ", 1, 3600.0, 3600.0)],
)
def test_a_rate_is_a_count_per_second_minute_or_hour(text, count, seconds, interval):
    rate = Rate.parse(text, "pay")
    assert (rate.count, rate.seconds) == (count, seconds)
    assert rate.interval == pytest.approx(interval)


@pytest.mark.parametrize("text", ["50", "50/d", "0/s", "-1/s", "1.5/s", "20000/s", 50, None])
def test_a_bad_rate_is_refused_naming_the_action_and_the_forms(text):
    with pytest.raises(ValueError, match=r"rate for 'pay' must be a count per second"):
        Rate.parse(text, "pay")


def test_a_rate_alone_is_a_limit_without_slots():
    limit = Limit.declared(None, None, "pay", rate="20/s")
    assert limit == Limit(None, None, Rate(20, 1.0))
    assert limit.describe() == "20/s"
    assert Limit.declared(5, None, "pay", rate="1/m").describe() == "5 at a time, 1/m"
