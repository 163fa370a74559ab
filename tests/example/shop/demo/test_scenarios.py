"""example_project.shop.demo.scenarios: the demo's orders, and what its operator does."""

from __future__ import annotations

import pytest

from example_project.shop.demo.scenarios import (
    DEMO_REMINDER_AFTER,
    GADGET_STOCK,
    GIZMO_STOCK,
    REPAIR_REASON,
    SCENARIOS,
    WIDGET_STOCK,
    place,
    provider_back,
    provider_down,
    repair,
    start_again,
    stock_shelves,
    waiting_for_provider,
)
from example_project.shop.models import Order, Payment, Product
from tests.example.shop.demo.runs import finished, run_every_scenario

pytestmark = pytest.mark.django_db


def test_the_shelves_are_stocked_in_full_each_run():
    stock_shelves()
    Product.objects.filter(sku="gadget").update(stock=0)
    stock_shelves()
    assert dict(Product.objects.values_list("sku", "stock")) == {
        "widget": WIDGET_STOCK,
        "gadget": GADGET_STOCK,
        "gizmo": GIZMO_STOCK,
    }


def test_each_scenario_is_an_order_placed_as_the_checkout_places_it():
    stock_shelves()
    for n, scenario in enumerate(SCENARIOS):
        order = Order.objects.get(saga_id=place(n, scenario).pk)
        lines = [(line.product.sku, line.quantity) for line in order.lines.order_by("pk")]
        assert order.customer == f"customer-{n}"
        assert lines == [(scenario.sku, scenario.quantity), *scenario.more_lines]
        assert (order.address, order.gift_wrap) == (scenario.address, scenario.gift_wrap)


def test_starting_an_order_again_with_its_key_returns_its_saga(saga_kit):
    stock_shelves()
    saga = place(0, SCENARIOS[0])
    saga_kit.run()
    number = Order.objects.get(saga_id=saga.pk).number
    assert start_again(saga) == (
        f"Started {number}'s saga again, with its key: got the same saga ({saga.pk})",
        True,
    )


def test_the_operator_sends_halted_island_orders_by_ferry(saga_kit):
    started = run_every_scenario(saga_kit)
    halted = [saga for saga in finished(started).values() if saga.state == "halted"]
    assert [Order.objects.get(saga_id=s.pk).address for s in halted] == ["Far Island"]
    assert repair(finished(started)) == 1
    saga_kit.advance(seconds=DEMO_REMINDER_AFTER)
    [(_, island)] = [(sc, saga) for sc, saga in started if sc.address == "Far Island"]
    done = saga_kit.assert_saga(island, "completed")
    assert done.step("ship_order").output["courier"] == "ferry"
    assert repair(finished(started)) == 0  # nothing halted any more
    assert REPAIR_REASON.startswith("express does not deliver to islands")


def test_during_the_providers_outage_orders_wait_before_calling_it_and_go_on_after(saga_kit):
    stock_shelves()
    provider_down()
    started = [place(n, scenario) for n, scenario in enumerate(SCENARIOS)]
    ids = [saga.pk for saga in started]
    saga_kit.run()
    # Those that reach the payment wait before it; the others end as ever.
    reach = [s for s in SCENARIOS if s.expected == "completed" or "declined" in s.name]
    assert waiting_for_provider(ids) == len(reach)
    assert not Payment.objects.exists()
    line = provider_back(len(reach))
    assert line == (
        f"Provider outage: payment.* paused while the orders came in; {len(reach)} "
        "order(s) waited for it, 0 call(s) reached it; resumed"
    )
    saga_kit.run()
    # Sent again by the sweeper, each asks the provider once.
    assert Payment.objects.count() == len(reach)
    assert all(
        saga_kit.saga(saga).step("request_payment").status == "waiting"
        for saga, scenario in zip(started, SCENARIOS, strict=True)
        if scenario in reach
    )
