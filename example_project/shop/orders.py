"""How the shop turns an order into a saga."""

from __future__ import annotations

from decimal import Decimal

from django_saga import Step, manager
from django_saga.models import Saga


def place_order(customer: str, sku: str, quantity: int, amount: Decimal) -> Saga:
    return manager.start(
        "order_processing",
        steps=[
            Step(
                "create_order", "orders.create", "orders.delete", {"sku": sku, "quantity": quantity}
            ),
            Step(
                "reserve_inventory",
                "inventory.reserve",
                "inventory.release",
                {"sku": sku, "quantity": quantity},
            ),
            Step("charge_payment", "payment.charge", "payment.refund", {"amount": amount}),
        ],
        context={"customer": customer},
    )
