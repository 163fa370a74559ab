"""What the diagram's tests draw, and how they read the SVG they get back.

The definitions are also named by dotted path in the tests of ``manage.py
saga_graph``, which imports them from here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from django_saga import SagaDefinition, Step, parallel
from tests.factories import SagaFactory, SagaStepFactory

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "</text><script>alert(1)</script>\"&'<b>]]>\x01\n%% end"


class PaymentSaga(SagaDefinition):
    name = "payment"

    def steps(self):
        return [
            Step("request_payment", "payment.request", "payment.void"),
            Step("capture_payment", "payment.capture", pivot=True),
        ]


class OrderSaga(SagaDefinition):
    """The example shop's order, in short: a parallel stage, then a pivot."""

    name = "order_processing"

    def steps(self):
        return [
            Step("accept_order", "orders.accept", "orders.cancel", {"id": self.params["order_id"]}),
            parallel(
                Step("reserve_inventory", "inventory.reserve", "inventory.release"),
                Step("validate_address", "shipping.validate_address"),
            ),
            PaymentSaga(),
            Step("ship_order", "shipping.dispatch"),
        ]


class Broken(SagaDefinition):
    def steps(self):
        return [Step("a", "x.a"), Step("a", "x.b")]


NOT_A_DEFINITION = 42


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def steps_of(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-step", ""): g for g in root.iter(f"{SVG}g") if g.get("class") == "sg-step"}


def compensated_saga():
    """A saga undone after ``charge`` failed: stages 3, 1 and 0 were undone, in that order."""
    saga = SagaFactory(compensated=True, name="order_processing")
    rows = [
        # (stage, name, compensation, status)
        (0, "create", "orders.cancel", "compensated"),
        (1, "reserve", "inventory.release", "compensated"),
        (1, "check_address", "", "compensated"),
        (2, "gift_wrap", "", "skipped"),
        (3, "hold_money", "payment.release", "compensated"),
        (4, "charge", "payment.refund", "failed"),
        (5, "ship", "", "cancelled"),
    ]
    for position, (stage, name, compensation, status) in enumerate(rows):
        SagaStepFactory(
            saga=saga,
            position=position,
            stage=stage,
            name=name,
            compensation=compensation,
            status=status,
            attempts=0 if status == "cancelled" else 1,
        )
    return saga


def wait_failed_saga():
    """A saga whose step ``pay`` returned Pending, then failed from outside and was undone."""
    saga = SagaFactory(compensated=True, name="order_processing")
    history = [
        {"kind": "execute", "attempt": 1, "outcome": "waiting"},
        {"kind": "outside", "attempt": 1, "outcome": "failed", "error": "declined"},
        {"kind": "compensate", "attempt": 1, "outcome": "compensated"},
    ]
    SagaStepFactory(saga=saga, position=0, stage=0, name="reserve", status="compensated")
    SagaStepFactory(
        saga=saga,
        position=1,
        stage=1,
        name="pay",
        compensation="payment.void",
        status="compensated",
        attempts=1,
        history=history,
    )
    return saga


def hostile_saga():
    """A failed saga whose name, first step's name, action and compensation are ``HOSTILE``."""
    saga = SagaFactory(failed=True, name=HOSTILE)
    SagaStepFactory(
        saga=saga, position=0, name=HOSTILE, action=HOSTILE, compensation=HOSTILE, completed=True
    )
    SagaStepFactory(saga=saga, position=1, name="b", failed=True)
    return saga


def huge_steps() -> list:
    """50 steps in parallel, then 3,000 in a row, each with a compensation."""
    steps: list = [parallel(*(Step(f"p{n}", "x.p") for n in range(50)))]
    steps += [Step(f"s{n}", "x.s", "x.undo") for n in range(3000)]
    return steps


def long_saga():
    """A saga of six stages, the last of three steps, and its steps in order."""
    saga = SagaFactory(name="long")
    rows = [SagaStepFactory(saga=saga, position=n, stage=n if n < 5 else 5) for n in range(8)]
    return saga, rows
