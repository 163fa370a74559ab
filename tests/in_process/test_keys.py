"""Business keys: one unfinished saga per (name, key), idempotent start, find and
answer by key. Each test runs once per store (Django models and memory)."""

from __future__ import annotations

import pytest

from django_saga import SagaAlreadyActive, SagaDefinition, Step, manager
from django_saga.errors import SagaDefinitionError, SagaNotFound
from django_saga.models import Saga
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def order_steps() -> list[Step]:
    return [Step("reserve", "test.record", "test.undo"), Step("pay", "test.pending")]


def test_a_second_start_with_the_key_of_an_unfinished_saga_returns_it(store):
    first = manager.start("order", order_steps(), key="order-123")
    assert first.created is True and first.key == "order-123"
    again = manager.start("order", order_steps(), key="order-123")
    assert again.created is False
    assert again.pk == first.pk
    # Another name, or another key, is another saga.
    other_name = manager.start("refund", order_steps(), key="order-123")
    other_key = manager.start("order", order_steps(), key="order-124")
    assert other_name.created and other_key.created
    assert len({first.pk, other_name.pk, other_key.pk}) == 3
    assert sorted(s.key for s in manager.list_active()) == ["order-123", "order-123", "order-124"]


def test_the_caller_may_ask_for_an_error_instead(store):
    first = manager.start("order", order_steps(), key="order-123")
    with pytest.raises(SagaAlreadyActive) as info:
        manager.start("order", order_steps(), key="order-123", if_active="raise")
    assert info.value.saga.pk == first.pk
    assert str(info.value) == (
        f"Saga {first.pk} ('order', key 'order-123') is started: "
        "a saga of this name with this key has not finished"
    )
    with pytest.raises(
        SagaDefinitionError, match="if_active must be one of 'return', 'raise', 'queue'"
    ):
        manager.start("order", order_steps(), key="order-9", if_active="ignore")


def test_once_the_saga_has_finished_the_key_starts_a_new_one(store, run_engine):
    run_engine()
    first = manager.start("order", [Step("a", "test.record")], key="order-123")
    assert wait_terminal(first.id).state == "completed"
    second = manager.start("order", [Step("a", "test.record")], key="order-123")
    assert second.created and second.pk != first.pk
    # find(): the unfinished one while there is one, else the latest.
    assert wait_terminal(second.id).state == "completed"
    assert manager.find("order", "order-123").pk == second.pk
    third = manager.start("order", order_steps(), key="order-123")
    wait_for(lambda: manager.get(third.id).step("pay").status == "waiting", what="waiting")
    assert manager.find("order", "order-123").pk == third.pk


def test_a_saga_that_waits_for_an_operator_keeps_its_key(store, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    run_engine()
    failed = wait_terminal(manager.start("order", [Step("a", "test.fail")], key="k-1").id)
    assert failed.state == "failed"
    assert manager.start("order", [Step("a", "test.record")], key="k-1").pk == failed.pk


def test_find_refuses_what_no_saga_has(store):
    with pytest.raises(SagaNotFound, match="No saga 'order' with key 'nope'"):
        manager.find("order", "nope")
    with pytest.raises(SagaDefinitionError, match="The key"):
        manager.find("order", "")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("x" * 201, "The key is 201 characters long, over the limit of 200"),
        ("a\x00b", "The key holds a NUL character"),
        (123, "The key must be a string, got 123"),
    ],
)
def test_a_key_no_column_could_hold_is_refused(store, key, message):
    with pytest.raises(SagaDefinitionError, match=message):
        manager.start("order", order_steps(), key=key)
    assert manager.list_active() == []


class OrderSaga(SagaDefinition):
    name = "order"

    def steps(self):
        return order_steps()

    def key(self):
        return f"order-{self.params['order_id']}"


def test_a_definition_gives_its_key(store):
    first = OrderSaga(order_id=7).start()
    assert first.key == "order-7" and first.created
    assert OrderSaga(order_id=7).start().pk == first.pk
    with pytest.raises(SagaAlreadyActive):
        OrderSaga(order_id=7).start(if_active="raise")


def test_a_waiting_step_is_answered_by_name_and_key(store, run_engine):
    run_engine()
    saga = manager.start("order", order_steps(), key="order-123")
    wait_for(lambda: manager.get(saga.id).step("pay").status == "waiting", what="waiting")
    done = manager.complete_step(("order", "order-123"), "pay", {"charge": "ch_1"})
    assert done.pk == saga.pk
    assert wait_terminal(saga.id).state == "completed"
    other = manager.start("order", order_steps(), key="order-124")
    wait_for(lambda: manager.get(other.id).step("pay").status == "waiting", what="waiting")
    manager.fail_step(("order", "order-124"), "pay", "card declined")
    assert wait_terminal(other.id).state == "compensated"
    with pytest.raises(SagaNotFound):
        manager.complete_step(("order", "order-999"), "pay")
    with pytest.raises(SagaDefinitionError, match="by its id or by \\(name, key\\)"):
        manager.complete_step(("order",), "pay")  # type: ignore[arg-type]
    assert list(Ledger.objects.values_list("action", flat=True)).count("do:pay") == 2


def test_sagas_without_a_key_are_never_in_each_others_way(store):
    one = manager.start("order", order_steps())
    two = manager.start("order", order_steps())
    assert one.created and two.created and one.pk != two.pk
    assert one.key == two.key == ""


def test_the_queryset_finds_by_key_newest_first():
    first = manager.start("order", order_steps(), key="k")
    Saga.objects.filter(pk=first.pk).update(state="completed")
    second = manager.start("order", order_steps(), key="k")
    assert list(Saga.objects.with_key("order", "k").values_list("pk", flat=True)) == [
        second.pk,
        first.pk,
    ]
