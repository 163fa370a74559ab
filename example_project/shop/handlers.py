"""The shop's saga handlers. ShopConfig.ready() registers them by action name.

Each handler's writes commit with its step's completion, or not at all; each
compensation checks what is there to undo, so running it twice is harmless.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from django_saga import Pending, RetryableError, Skip

from .models import Order, Payment, Pickup, Product, Reservation, StockReport


class OutOfStock(Exception):
    pass


class AddressNotFound(Exception):
    pass


class CourierUnavailable(RetryableError):
    """Worth another try: couriers come back. After the payment's capture the
    saga retries it and, when the retries run out, halts for an operator."""


def accept_order(saga, step):
    """The order was created with its saga, in one transaction: take it on."""
    order = Order.objects.get(pk=step.input["order_id"])
    if not order.lines.exists() or order.lines.filter(quantity__lt=1).exists():
        raise ValueError(f"order {order.pk} asks for no goods")
    return {"order_id": order.pk, "number": order.number}


def cancel_order(saga, step):
    Order.objects.filter(saga_id=saga.id).update(status=Order.Status.CANCELLED)
    # A payment still waiting for the provider will not be taken.
    Payment.objects.filter(order__saga_id=saga.id, status=Payment.Status.REQUESTED).update(
        status=Payment.Status.VOIDED
    )


def reserve_inventory(saga, step):
    """One line of the order (an item of the reservation's map stage)."""
    line = step.input["item"]
    product = Product.objects.select_for_update().get(sku=line["sku"])
    if product.stock < line["quantity"]:
        raise OutOfStock(f"{product.sku}: {line['quantity']} wanted, {product.stock} in stock")
    product.stock -= line["quantity"]
    product.save(update_fields=["stock"])
    reservation = Reservation.objects.create(
        line_id=line["line"], product=product, quantity=line["quantity"]
    )
    return {"reservation_id": reservation.pk, "reserved": line["quantity"]}


def release_inventory(saga, step):
    """Undo one line's reservation, if it holds one."""
    reservation = (
        Reservation.objects.select_for_update()
        .filter(line_id=step.input["item"]["line"], status=Reservation.Status.HELD)
        .first()
    )
    if reservation is None:
        return  # nothing held: already released, or never reserved
    product = Product.objects.select_for_update().get(pk=reservation.product_id)
    product.stock += reservation.quantity
    product.save(update_fields=["stock"])
    reservation.status = Reservation.Status.RELEASED
    reservation.save(update_fields=["status"])


def validate_address(saga, step):
    """Runs alongside the stock reservation: both must succeed before payment."""
    address = " ".join(step.input["address"].split())
    if not address or address.lower() == "nowhere":
        raise AddressNotFound(f"no such address: {step.input['address']!r}")
    return {"address": address.title()}


def gift_wrap(saga, step):
    """A conditional step: only orders that asked for it are wrapped."""
    order = Order.objects.get(saga_id=saga.id)
    if not order.gift_wrap:
        return Skip("no gift wrap ordered")
    return {"wrapped": True}


def pack_order(saga, step):
    """Pack the order's goods into parcels of at most ``SHOP_PARCEL_UNITS``
    units: the list the order's map of parcel sagas goes over."""
    order = Order.objects.get(pk=step.input["order_id"])
    units = sum(order.lines.values_list("quantity", flat=True))
    size = settings.SHOP_PARCEL_UNITS
    parcels = [
        {"parcel": number, "units": min(size, units - start)}
        for number, start in enumerate(range(0, units, size), 1)
    ]
    return {"parcels": parcels}


def book_pickup(saga, step):
    """A courier's pickup for one parcel (a step of the parcel's own saga)."""
    pickup, _ = Pickup.objects.update_or_create(
        order_id=step.input["order_id"],
        parcel=step.input["parcel"],
        defaults={"units": step.input["units"], "status": Pickup.Status.BOOKED},
    )
    return {"pickup_id": pickup.pk}


def cancel_pickup(saga, step):
    Pickup.objects.filter(order_id=step.input["order_id"], parcel=step.input["parcel"]).update(
        status=Pickup.Status.CANCELLED
    )


def print_label(saga, step):
    order = Order.objects.get(pk=step.input["order_id"])
    return {"label": f"{order.number}/{step.input['parcel']}"}


def request_payment(saga, step):
    """Ask the provider for the money; its webhook completes or fails this step."""
    amount = Decimal(str(step.input["amount"]))
    # A retried attempt asks again under the same key; the report names the attempt
    # and carries the attempt's report token back.
    handed_out = {"attempt": step.attempts, "report_token": step.report_token}
    payment, _ = Payment.objects.update_or_create(
        idempotency_key=step.idempotency_key,
        defaults=handed_out,
        create_defaults={
            "order": Order.objects.get(saga_id=saga.id),
            "amount": amount,
            **handed_out,
        },
    )
    return Pending({"payment_id": payment.pk}, timeout=settings.SHOP_PAYMENT_TIMEOUT)


def void_payment(saga, step):
    """Nothing was captured before the pivot: the authorisation is dropped."""
    Payment.objects.filter(
        idempotency_key=step.idempotency_key, status=Payment.Status.REQUESTED
    ).update(status=Payment.Status.VOIDED)


def capture_payment(saga, step):
    """The pivot: the authorised money is taken, and the order can no longer be undone."""
    charge_id = saga.step("request_payment").output.get("charge_id", "")
    Payment.objects.filter(order__saga_id=saga.id).update(
        status=Payment.Status.CHARGED, charge_id=charge_id
    )
    return {"charge_id": charge_id}


def refund_payment(saga, step):
    """Give the charged money back; an order never charged has nothing to refund."""
    refunded = Payment.objects.filter(
        order_id=step.input["order_id"], status=Payment.Status.CHARGED
    ).update(status=Payment.Status.REFUNDED)
    if not refunded:
        raise ValueError(f"order {step.input['order_id']} has no charged payment to refund")
    return {"refunded": step.input["amount"]}


def dispatch_order(saga, step):
    """Hand the parcel to a courier. The express courier does not reach islands,
    so such an order halts until an operator retries it with another courier."""
    order = Order.objects.get(saga_id=saga.id)
    courier = step.input.get("courier", "express")
    if courier == "express" and "island" in order.address.lower():
        raise CourierUnavailable(f"express does not deliver to {order.address!r}")
    return {"courier": courier, "tracking": f"{courier}-{order.pk}"}


def confirm_order(saga, step):
    Order.objects.filter(saga_id=saga.id).update(status=Order.Status.CONFIRMED)
    return {"charge_id": saga.step("capture_payment").output.get("charge_id", "")}


def remind_on_its_way(saga, step):
    """Tell the customer their order is on its way: a sleep after shipping
    lets it go out once the parcel has had time to travel."""
    order = Order.objects.get(saga_id=saga.id)
    if order.reminded_at is None:  # a step run twice sends one reminder
        order.reminded_at = timezone.now()
        order.save(update_fields=["reminded_at"])
    return {"to": order.customer, "message": f"Your {order.number} is on its way"}


def count_stock(saga, step):
    """Each product's stock, as the nightly report keeps it."""
    return {"stock": dict(Product.objects.order_by("sku").values_list("sku", "stock"))}


def file_stock_report(saga, step):
    """Keep what ``count_stock`` found, once per tick of the schedule."""
    tick = saga.context["schedule"]["tick"]
    report, _ = StockReport.objects.get_or_create(
        tick=tick, defaults={"stock": saga.step("count_stock").output["stock"]}
    )
    return {"report": report.pk}
