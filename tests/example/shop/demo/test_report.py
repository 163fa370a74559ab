"""example_project.shop.demo.report: how the demo's orders ended, their lines and
parcels with them, and whether stock, pickups and payments agree with them."""

from __future__ import annotations

import pytest

from example_project.shop.demo.report import report
from example_project.shop.demo.scenarios import DEMO_REMINDER_AFTER, repair
from example_project.shop.models import Order, Product
from tests.example.shop.demo.runs import finished, run_every_scenario

pytestmark = pytest.mark.django_db


@pytest.fixture
def ended(saga_kit):
    """Every scenario's order run to its end, the island's repaired."""
    started = run_every_scenario(saga_kit)
    repair(finished(started))
    saga_kit.advance(seconds=DEMO_REMINDER_AFTER)  # the island's order, sent by ferry
    return started


def test_every_scenario_ended_as_expected_with_stock_and_payments_consistent(ended):
    lines, ok = report(ended, finished(ended), elapsed=2.0)
    assert ok
    assert lines[0] == ""
    columns = ["scenario", "expected", "sagas", "completed", "compensated", "other", "lines"]
    assert lines[1].split()[:7] == columns
    assert lines[1].endswith("lines reserved  parcels (child sagas)")
    assert set(lines[2]) == {"-"}
    assert (
        "in stock, paid            completed         1          1            0      0  "
        "1 done          1 done"
    ) in lines
    # Two lines of three units: two reservations and two parcels, each a child saga.
    assert (
        "two lines, three parcels  completed         1          1            0      0  "
        "2 done          3 done"
    ) in lines
    # Compensated across them: both lines released, both parcels' sagas compensated.
    assert (
        "payment declined          compensated       1          0            1      0  "
        "2 undone        2 undone"
    ) in lines
    [declined] = [i for i, line in enumerate(lines) if line.startswith("payment declined: saga ")]
    assert "reserve_inventory[1]=compensated" in lines[declined]
    assert lines[declined + 1].startswith("    child saga ")
    assert lines[declined + 1].endswith("(parcel) compensated")
    [island] = [line for line in lines if line.startswith("island: halted, repaired: saga ")]
    assert " completed: " in island and "ship_order=completed" in island
    assert "consistent" in lines[-5] and "INCONSISTENT" not in lines[-5]
    assert lines[-4] == (
        "Pickups: booked for the parcels of the completed orders, cancelled for the others"
    )
    assert lines[-3] == "Payments: charged exactly for the completed orders"
    assert lines[-2] == (
        "Reminders 'on its way', sent a sleep after shipping: 4 of 4 completed orders"
    )
    assert lines[-1].startswith("7 sagas (4 completed) in 2.00s: 3.5 sagas/s on ")


def test_a_saga_that_ended_otherwise_fails_the_report(saga_kit):
    started = run_every_scenario(saga_kit)  # the island's order left halted
    lines, ok = report(started, finished(started), elapsed=1.0)
    assert not ok
    [island] = [line for line in lines if line.startswith("island: halted, repaired  ")]
    assert island.startswith(
        "island: halted, repaired  completed         1          0            0      1"
    )


def test_stock_that_disagrees_with_the_orders_is_inconsistent(ended):
    Product.objects.filter(sku="gadget").update(stock=0)
    lines, ok = report(ended, finished(ended), elapsed=1.0)
    assert not ok
    assert "gadget 0 (expected 3)" in lines[-5] and lines[-5].endswith(": INCONSISTENT")


def test_a_completed_order_without_its_reminder_fails_the_report(ended):
    Order.objects.filter(address="Far Island").update(reminded_at=None)
    lines, ok = report(ended, finished(ended), elapsed=1.0)
    assert not ok
    assert lines[-2].endswith("3 of 4 completed orders (MISSING)")
