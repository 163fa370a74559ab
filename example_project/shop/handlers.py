"""The shop's saga handlers. ShopConfig.ready() registers them by action name.

Each handler's writes commit with its step's completion, or not at all; each
compensation checks what is there to undo, so running it twice is harmless.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from .models import Order, Payment, Product, Reservation


class OutOfStock(Exception):
    pass


class PaymentDeclined(Exception):
    pass


def create_order(saga, step):
    product = Product.objects.get(sku=step.input["sku"])
    order = Order.objects.create(
        saga_id=saga.id,
        customer=saga.context["customer"],
        product=product,
        quantity=step.input["quantity"],
    )
    return {"order_id": order.pk}


def cancel_order(saga, step):
    Order.objects.filter(saga_id=saga.id).update(status=Order.Status.CANCELLED)


def reserve_inventory(saga, step):
    order = Order.objects.get(saga_id=saga.id)
    product = Product.objects.select_for_update().get(pk=order.product_id)
    if product.stock < order.quantity:
        raise OutOfStock(f"{product.sku}: {order.quantity} wanted, {product.stock} in stock")
    product.stock -= order.quantity
    product.save(update_fields=["stock"])
    reservation = Reservation.objects.create(order=order, product=product, quantity=order.quantity)
    return {"reservation_id": reservation.pk, "reserved": order.quantity}


def release_inventory(saga, step):
    reservation = (
        Reservation.objects.select_for_update()
        .filter(order__saga_id=saga.id, status=Reservation.Status.HELD)
        .first()
    )
    if reservation is None:
        return  # nothing held: already released, or never reserved
    product = Product.objects.select_for_update().get(pk=reservation.product_id)
    product.stock += reservation.quantity
    product.save(update_fields=["stock"])
    reservation.status = Reservation.Status.RELEASED
    reservation.save(update_fields=["status"])


def charge_payment(saga, step):
    amount = Decimal(str(step.input["amount"]))
    if amount > settings.SHOP_PAYMENT_LIMIT:
        raise PaymentDeclined(f"{amount} is over the limit of {settings.SHOP_PAYMENT_LIMIT}")
    payment, _ = Payment.objects.get_or_create(
        idempotency_key=step.idempotency_key,
        defaults={"order": Order.objects.get(saga_id=saga.id), "amount": amount},
    )
    return {"transaction_id": payment.pk, "amount_charged": amount}


def refund_payment(saga, step):
    if "transaction_id" in step.output:
        Payment.objects.filter(pk=step.output["transaction_id"]).update(
            status=Payment.Status.REFUNDED
        )
