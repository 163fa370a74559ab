"""How the shop turns an order into a saga: reusable definitions."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction

from django_saga import SagaDefinition, Sleep, Step, parallel
from django_saga.models import Saga

from .models import Order, Product


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


class OrderSaga(SagaDefinition):
    """Create the order, reserve stock and check the address together, get paid,
    then ship and confirm: retried, never undone, once the payment is captured.
    A while after shipping (``reminder_after`` seconds, a sleep that costs
    nothing while it waits), tell the customer it is on its way."""

    name = "order_processing"
    version = 4

    def steps(self):
        order = self.params
        return [
            Step("accept_order", "orders.accept", "orders.cancel", {"order_id": order["order_id"]}),
            parallel(
                Step(
                    "reserve_inventory",
                    "inventory.reserve",
                    "inventory.release",
                    {"sku": order["sku"], "quantity": order["quantity"]},
                ),
                Step(
                    "validate_address",
                    "shipping.validate_address",
                    "",
                    {"address": order["address"]},
                ),
            ),
            Step("gift_wrap", "orders.gift_wrap"),
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
            "reminder_after": self.params.get("reminder_after", settings.SHOP_REMINDER_AFTER),
        }

    def key(self):
        """One saga per order: a retried start() returns the one already running."""
        return f"order-{self.params['order_id']}"


def place_order(
    customer: str,
    sku: str,
    quantity: int,
    amount: Decimal,
    address: str = "1 Main Street",
    gift_wrap: bool = False,
    courier: str = "express",
    reminder_after: float | None = None,
) -> Saga:
    """Create the order and start its saga in one transaction, the order's number
    as the saga's key: both commit, or neither does."""
    with transaction.atomic():
        order = Order.objects.create(
            customer=customer,
            product=Product.objects.get(sku=sku),
            quantity=quantity,
            address=address,
            gift_wrap=gift_wrap,
        )
        saga = OrderSaga(
            order_id=order.pk,
            customer=customer,
            sku=sku,
            quantity=quantity,
            amount=amount,
            address=address,
            gift_wrap=gift_wrap,
            courier=courier,
            reminder_after=reminder_after or settings.SHOP_REMINDER_AFTER,
        ).start()
        order.saga_id = saga.pk
        order.save(update_fields=["saga_id"])
    return saga
