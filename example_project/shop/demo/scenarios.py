"""The demo's orders, one per scenario in turn, and what its operator does:
start an order's saga again with its key, and repair the halted ones.

Each order checks its address, reserves each of its lines (a map stage),
is gift wrapped only if asked, is packed into parcels of two units, each
prepared by a child saga of its own (a pickup booked, a label printed),
waits for the (simulated) payment provider's webhook, has its payment
captured (the pivot: no undoing after it) and is shipped; a sleep
later (a second, in the demo) the customer is told it is on its way. Orders
to an island halt after the capture, as the express courier does not go
there; the demo then repairs them the way an operator would, with
``retry_step``. The shop's nightly stock report, a schedule, is shown and
run once now, as an operator would.

The payment provider is down when the orders come in: the demo's operator
pauses the ``payment.*`` actions first, so each order stops before calling
it instead of failing and retrying, and resumes them once it is back; the
provider takes its calls within its limits (``SHOP_PAYMENT_CONCURRENCY``,
``SHOP_PAYMENT_RATE``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django_saga.api import manager
from django_saga.models import TERMINAL_STATES, HeldMessage, Saga, SagaState
from django_saga.schedules.ticking import timing_of
from example_project.shop.models import Order, Payment, Product
from example_project.shop.orders import OrderSaga, line_item, place_order


@dataclass(frozen=True)
class Scenario:
    name: str
    sku: str
    quantity: int
    amount: Decimal
    expected: str
    address: str = "1 Main Street"
    gift_wrap: bool = False
    #: Lines after the first, each a (sku, quantity).
    more_lines: tuple[tuple[str, int], ...] = ()


SCENARIOS = [
    Scenario("in stock, paid", "widget", 1, Decimal("20.00"), "completed"),
    Scenario("gift wrapped, paid", "widget", 2, Decimal("40.00"), "completed", gift_wrap=True),
    Scenario(
        "two lines, three parcels",
        "widget",
        3,
        Decimal("80.00"),
        "completed",
        more_lines=(("gizmo", 2),),
    ),
    Scenario("more than the stock", "gadget", 5, Decimal("100.00"), "compensated"),
    Scenario(
        "payment declined",
        "widget",
        2,
        Decimal("900.00"),
        "compensated",
        more_lines=(("gizmo", 1),),
    ),
    Scenario("unknown address", "widget", 1, Decimal("20.00"), "compensated", address="Nowhere"),
    Scenario(
        "island: halted, repaired", "widget", 1, Decimal("20.00"), "completed", address="Far Island"
    ),
]
#: Seconds between shipping and the "on its way" reminder, in the demo (a day in the shop).
DEMO_REMINDER_AFTER = 1.0
#: The shop's schedule the demo shows.
NIGHTLY_REPORT = "nightly-stock-report"
#: What the demo's operator says when it runs the report by hand.
REPORT_REASON = "the demo shows tonight's stock report now"
#: What the demo's operator says when it sends halted orders by ferry.
REPAIR_REASON = "express does not deliver to islands: sent by ferry instead"
#: What the demo's operator pauses during the provider's outage, and says.
PROVIDER_ACTIONS = "payment.*"
OUTAGE_REASON = "the payment provider is down (simulated)"
BACK_REASON = "the payment provider is back"
WIDGET_STOCK = 1_000_000
GIZMO_STOCK = 1_000_000
GADGET_STOCK = 3


def stock_shelves() -> None:
    """Put the demo's products on the shelves, at their full stock."""
    for sku, name, stock, price in [
        ("widget", "Widget", WIDGET_STOCK, Decimal("20.00")),
        ("gadget", "Gadget", GADGET_STOCK, Decimal("20.00")),
        ("gizmo", "Gizmo", GIZMO_STOCK, Decimal("10.00")),
    ]:
        Product.objects.update_or_create(
            sku=sku, defaults={"name": name, "stock": stock, "price": price}
        )


def place(n: int, scenario: Scenario) -> Saga:
    """Place one order, as the shop's checkout view would."""
    with _request_span("POST /orders") as span:
        if span is not None:
            span.set_attribute("shop.scenario", scenario.name)
        return place_order(
            f"customer-{n}",
            scenario.sku,
            scenario.quantity,
            scenario.amount,
            address=scenario.address,
            gift_wrap=scenario.gift_wrap,
            reminder_after=DEMO_REMINDER_AFTER,
            more_lines=scenario.more_lines,
        )


def start_again(saga: Saga) -> tuple[str, bool]:
    """Start the first order's saga a second time, as a retried request would:
    its key (the order number) returns the saga already running. The line
    saying what came back, and whether it was that saga."""
    order = Order.objects.get(saga_id=saga.pk)
    again = OrderSaga(
        order_id=order.pk,
        customer=order.customer,
        lines=[line_item(line) for line in order.lines.order_by("pk")],
        amount=Decimal("0"),
        address=order.address,
        gift_wrap=order.gift_wrap,
        courier="express",
    ).start()
    same = again.pk == saga.pk and again.created is False
    got = "the same saga" if same else "ANOTHER saga"
    return f"Started {order.number}'s saga again, with its key: got {got} ({again.pk})", same


def repair(finished: dict[str, Saga]) -> int:
    """Send halted orders again by ferry, as an operator would: nothing is undone.
    How many there were."""
    halted = [saga for saga in finished.values() if saga.state == SagaState.HALTED]
    for saga in halted:
        manager.retry_step(
            saga.pk, "ship_order", {"courier": "ferry"}, by="saga_demo", reason=REPAIR_REASON
        )
    return len(halted)


def _request_span(name: str) -> contextlib.AbstractContextManager[Any]:
    """A span standing in for the checkout request, if OpenTelemetry is installed:
    the order's saga, its steps and compensations show up under it (see the
    tracing guide). Nothing without it."""
    try:
        from opentelemetry import trace
    except ImportError:
        return contextlib.nullcontext()
    return trace.get_tracer("example_project.shop").start_as_current_span(name)


def run_report_now() -> tuple[str, Saga]:
    """Say when the nightly stock report runs, and run it once now, as an
    operator would: the line saying so, and the saga started."""
    nightly = manager.schedule(NIGHTLY_REPORT)
    when = timing_of(nightly).describe()
    saga = manager.run_schedule(NIGHTLY_REPORT, by="saga_demo", reason=REPORT_REASON)
    next_run = nightly.next_run_at.isoformat() if nightly.next_run_at else "none"
    return (
        f"Schedule {NIGHTLY_REPORT}: {when}; next run {next_run}; run now as saga {saga.pk}",
        saga,
    )


def provider_down() -> None:
    """Pause every call to the payment provider, as an operator would."""
    manager.pause(action=PROVIDER_ACTIONS, by="saga_demo", reason=OUTAGE_REASON)


def waiting_for_provider(ids: list[str]) -> int | None:
    """How many of the sagas wait for the paused provider, once each has
    either finished or stopped before it (None: some are still on their way)."""
    held = set(
        HeldMessage.objects.filter(
            saga_id__in=ids, paused=True, action__startswith="payment."
        ).values_list("saga_id", flat=True)
    )
    finished = set(
        Saga.objects.filter(pk__in=ids, state__in=TERMINAL_STATES).values_list("pk", flat=True)
    )
    return len(held) if len(held | finished) == len(ids) else None


def provider_back(waited: int) -> str:
    """Resume the provider's calls; the line saying what the outage held."""
    calls = Payment.objects.count()
    manager.resume(action=PROVIDER_ACTIONS, by="saga_demo", reason=BACK_REASON)
    return (
        f"Provider outage: {PROVIDER_ACTIONS} paused while the orders came in; "
        f"{waited} order(s) waited for it, {calls} call(s) reached it; resumed"
    )
