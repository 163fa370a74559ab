"""How the shop turns an order into a saga: reusable definitions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from django_saga import Approval, FailTask, SagaDefinition, Sleep, Step, each
from django_saga.models import Saga

from .models import Order, OrderLine, Product


class PaymentSaga(SagaDefinition):
    """Ask the payment provider to authorise the money (its webhook says how that
    went), then capture it: the point of no return."""

    name = "payment"

    def steps(self):
        return [
            Step(
                "request_payment",
                "payment.request",
                "payment.void",
                {"amount": self.params["amount"]},
            ),
            # Captured money is not given back by undoing the saga: from here
            # on the order goes forward, and an operator repairs what fails.
            Step("capture_payment", "payment.capture", pivot=True),
        ]


class ParcelSaga(SagaDefinition):
    """One parcel of an order, a child saga of the order's: book a courier's
    pickup (cancelled if the order is), then print the label. Made with the
    order's id and, as an item of the order's map of parcels, the parcel."""

    name = "parcel"

    def steps(self):
        parcel = {"order_id": self.params["order_id"], **self.params["item"]}
        return [
            Step("book_pickup", "shipping.book_pickup", "shipping.cancel_pickup", parcel),
            Step("print_label", "shipping.print_label", "", parcel),
        ]


class OrderSaga(SagaDefinition):
    """Accept the order and check its address, reserve each line of it (a map
    stage: one step per line, undone line by line), pack it into parcels and
    prepare each as a child saga of its own (a pickup booked, a label), get
    paid, then ship and confirm: retried, never undone, once the payment is
    captured. A while after shipping (``reminder_after`` seconds, a sleep
    that costs nothing while it waits), tell the customer it is on its way.
    A known customer's order to an address they never used waits for a
    clerk to confirm it with them first."""

    name = "order_processing"
    version = 6

    def steps(self):
        order = self.params
        return [
            Step("accept_order", "orders.accept", "orders.cancel", {"order_id": order["order_id"]}),
            Step(
                "validate_address", "shipping.validate_address", "", {"address": order["address"]}
            ),
            *([confirm_address()] if order.get("new_address") else []),
            each(
                "reserve_inventory",
                "inventory.reserve",
                "inventory.release",
                over="context.lines",
                max_concurrency=5,
            ),
            Step("gift_wrap", "orders.gift_wrap"),
            Step("pack_order", "shipping.pack", "", {"order_id": order["order_id"]}),
            each(
                "prepare_parcels",
                ParcelSaga(order_id=order["order_id"]),
                over="pack_order.parcels",
                max_concurrency=3,
            ),
            PaymentSaga(amount=order["amount"]),
            Step("ship_order", "shipping.dispatch", input={"courier": order["courier"]}),
            Step("confirm_order", "orders.confirm"),
            Sleep("before_reminder", "context.reminder_after"),
            Step("remind_on_its_way", "mail.on_its_way"),
        ]

    def context(self):
        return {
            "customer": self.params["customer"],
            "order_id": self.params["order_id"],
            "address": self.params["address"],
            # What the reservation maps over: one item per line of the order.
            "lines": self.params["lines"],
            "reminder_after": self.params.get("reminder_after", settings.SHOP_REMINDER_AFTER),
        }

    def key(self):
        """One saga per order: a retried start() returns the one already running."""
        return f"order-{self.params['order_id']}"


def confirm_address() -> Step:
    """A clerk calls a known customer about a new address: confirmed, the
    order goes on; rejected, or not answered in time, it is cancelled."""
    return Approval(
        "confirm_address",
        title="Confirm a new delivery address",
        candidates=["clerks"],
        due=timedelta(hours=settings.SHOP_ADDRESS_CONFIRM_HOURS),
        on_due=FailTask("no clerk confirmed the new address in time"),
        show={"Customer": "context.customer", "Address": "context.address"},
    )


def place_order(
    customer: str,
    sku: str,
    quantity: int,
    amount: Decimal,
    address: str = "1 Main Street",
    gift_wrap: bool = False,
    courier: str = "express",
    reminder_after: float | None = None,
    more_lines: Sequence[tuple[str, int]] = (),
) -> Saga:
    """Create the order (``quantity`` of ``sku``, then ``more_lines``, each a
    ``(sku, quantity)``) and start its saga in one transaction, the order's
    number as the saga's key: both commit, or neither does."""
    with transaction.atomic():
        earlier = Order.objects.filter(customer=customer)
        # A customer's first order is not asked about; a new address of a known one is.
        new_address = earlier.exists() and not earlier.filter(address=address).exists()
        order = Order.objects.create(customer=customer, address=address, gift_wrap=gift_wrap)
        lines = [
            OrderLine.objects.create(order=order, product=Product.objects.get(sku=s), quantity=q)
            for s, q in [(sku, quantity), *more_lines]
        ]
        saga = OrderSaga(
            order_id=order.pk,
            customer=customer,
            lines=[line_item(line) for line in lines],
            amount=amount,
            address=address,
            gift_wrap=gift_wrap,
            courier=courier,
            reminder_after=reminder_after or settings.SHOP_REMINDER_AFTER,
            new_address=new_address,
        ).start()
        order.saga_id = saga.pk
        order.save(update_fields=["saga_id"])
    return saga


def line_item(line: OrderLine) -> dict[str, object]:
    """A line as its reservation's item: the line, its product and how many."""
    return {"line": line.pk, "sku": line.product.sku, "quantity": line.quantity}
