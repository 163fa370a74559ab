"""How the shop turns an order into a saga: reusable definitions."""

from __future__ import annotations

from decimal import Decimal

from django_saga import SagaDefinition, Step, parallel
from django_saga.models import Saga


class PaymentSaga(SagaDefinition):
    """Ask the payment provider for the money; its webhook says how that went."""

    name = "payment"

    def steps(self):
        return [
            Step(
                "request_payment",
                "payment.request",
                "payment.refund",
                {"amount": self.params["amount"]},
            )
        ]


class OrderSaga(SagaDefinition):
    """Create the order, reserve stock and check the address together, then get paid."""

    name = "order_processing"
    version = 2

    def steps(self):
        order = self.params
        return [
            Step(
                "create_order",
                "orders.create",
                "orders.cancel",
                {
                    "sku": order["sku"],
                    "quantity": order["quantity"],
                    "address": order["address"],
                    "gift_wrap": order["gift_wrap"],
                },
            ),
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
            Step("confirm_order", "orders.confirm"),
        ]

    def context(self):
        return {"customer": self.params["customer"]}


def place_order(
    customer: str,
    sku: str,
    quantity: int,
    amount: Decimal,
    address: str = "1 Main Street",
    gift_wrap: bool = False,
) -> Saga:
    return OrderSaga(
        customer=customer,
        sku=sku,
        quantity=quantity,
        amount=amount,
        address=address,
        gift_wrap=gift_wrap,
    ).start()
