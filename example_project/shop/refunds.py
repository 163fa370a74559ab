"""Refunds: money given back for a paid order. Above a threshold a refund
manager approves it first; past the approval's due time it goes to the
shop's directors. A rejected refund gives nothing back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings

from django_saga import Approval, OfferTo, SagaDefinition, Step
from django_saga.models import Saga

from .models import Order


class RefundSaga(SagaDefinition):
    """Approve the refund if it is large, then give the money back."""

    name = "refund"

    def steps(self):
        amount = Decimal(str(self.params["amount"]))
        steps = []
        if amount > Decimal(settings.SHOP_REFUND_APPROVAL_ABOVE):
            steps.append(
                Approval(
                    "approve_refund",
                    title="Approve a refund",
                    candidates=["refund-managers"],
                    due=timedelta(hours=settings.SHOP_REFUND_APPROVAL_HOURS),
                    on_due=OfferTo("shop-directors"),
                    show={
                        "Order": "context.order",
                        "Customer": "context.customer",
                        "Amount": "context.amount",
                        "Why": "context.why",
                    },
                )
            )
        order_id = self.params["order_id"]
        steps.append(
            Step(
                "refund_payment",
                "payment.refund",
                "",
                {"order_id": order_id, "amount": str(amount)},
            )
        )
        return steps

    def context(self):
        order = Order.objects.get(pk=self.params["order_id"])
        return {
            "order": order.number,
            "customer": order.customer,
            "amount": str(self.params["amount"]),
            "why": self.params["why"],
        }

    def key(self):
        """One refund at a time per order."""
        return f"refund-{self.params['order_id']}"


def request_refund(order: Order, amount: Decimal, why: str) -> Saga:
    """Start the refund of ``amount`` of ``order``'s payment, saying why."""
    return RefundSaga(order_id=order.pk, amount=str(amount), why=why).start()
