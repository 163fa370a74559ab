"""A small shop's handlers, so the console shows sagas that read like real ones."""

from __future__ import annotations

from django_saga import Skip, compensation_handler, step_handler
from tests.testapp.models import Ledger


class PaymentDeclined(Exception):
    pass


def _record(step, action: str) -> None:
    Ledger.objects.create(step_id=step.id, action=action)


@step_handler("shop.orders.create")
def create_order(saga, step):
    _record(step, "do:" + step.name)
    return {"order_id": f"ord-{saga.id[-6:].lower()}", "items": step.input.get("items", 1)}


@compensation_handler("shop.orders.cancel")
def cancel_order(saga, step):
    _record(step, "undo:" + step.name)


@step_handler("shop.inventory.reserve")
def reserve(saga, step):
    _record(step, "do:" + step.name)
    return {"reservation_id": f"res-{step.id[-6:].lower()}", "sku": step.input.get("sku")}


@compensation_handler("shop.inventory.release")
def release(saga, step):
    if step.input.get("release_fails"):
        raise ConnectionError("inventory service did not answer")
    _record(step, "undo:" + step.name)


@step_handler("shop.payment.charge")
def charge(saga, step):
    if step.input.get("decline"):
        raise PaymentDeclined(f"card {step.input.get('card', '')} declined by the issuer")
    _record(step, "do:" + step.name)
    return {"transaction_id": f"tx-{step.id[-8:].lower()}", "amount": step.input.get("amount")}


@compensation_handler("shop.payment.refund")
def refund(saga, step):
    _record(step, "undo:" + step.name)


@step_handler("shop.shipping.schedule")
def schedule(saga, step):
    _record(step, "do:" + step.name)
    return {"carrier": "parcel", "pickup": "tomorrow"}


@step_handler("shop.shipping.validate")
def validate_address(saga, step):
    _record(step, "do:" + step.name)
    return {"address": step.input.get("address", "").upper()}


@step_handler("shop.orders.gift_wrap")
def gift_wrap(saga, step):
    if not step.input.get("wrap"):
        return Skip("no gift wrap ordered")
    _record(step, "do:" + step.name)
    return {"wrapped": True}


@step_handler("shop.payment.capture")
def capture(saga, step):
    _record(step, "do:" + step.name)
    return {"captured": True}
