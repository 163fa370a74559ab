"""The demo's report: how the orders of each scenario ended against what was
expected, with their lines' reservations (a map stage's items) and their
parcels (child sagas), an example saga of each, and whether stock, pickups
and payments agree with the orders that completed."""

from __future__ import annotations

from collections import Counter

from django.db import connection

from django_saga.models import Saga, SagaStep
from example_project.shop.models import Order, Payment, Pickup, Product

from .scenarios import GADGET_STOCK, GIZMO_STOCK, WIDGET_STOCK, Scenario

#: How the table says a line's or a parcel's end.
_SHORT = {"completed": "done", "compensated": "undone"}


def report(
    started: list[tuple[Scenario, Saga]], finished: dict[str, Saga], elapsed: float
) -> tuple[list[str], bool]:
    """The report's lines, and whether every saga ended as expected with stock
    and payments consistent."""
    rows: dict[str, Counter[str]] = {}
    items: dict[str, Counter[str]] = {}
    parcels: dict[str, Counter[str]] = {}
    expected: dict[str, str] = {}
    examples: dict[str, Saga] = {}
    ends = _ends(list(finished))
    for scenario, saga in started:
        name = scenario.name
        final = finished[saga.id]
        rows.setdefault(name, Counter())[final.state] += 1
        items.setdefault(name, Counter()).update(ends[0].get(saga.id, ()))
        parcels.setdefault(name, Counter()).update(ends[1].get(saga.id, ()))
        expected[name] = scenario.expected
        examples.setdefault(name, final)
    header = (
        f"{'scenario':<26}{'expected':<13}{'sagas':>6}{'completed':>11}"
        f"{'compensated':>13}{'other':>7}  {'lines reserved':<16}{'parcels (child sagas)'}"
    )
    lines = ["", header, "-" * len(header)]
    all_ok = True
    for name, counts in rows.items():
        total = sum(counts.values())
        other = total - counts["completed"] - counts["compensated"]
        all_ok &= counts[expected[name]] == total
        lines.append(
            f"{name:<26}{expected[name]:<13}{total:>6}{counts['completed']:>11}"
            f"{counts['compensated']:>13}{other:>7}  {_tally(items[name]):<16}"
            f"{_tally(parcels[name])}"
        )
    lines.append("")
    for name, saga in examples.items():
        steps = ", ".join(
            f"{s.name}={s.status}" + (f" ({s.error})" if s.error else "")
            for s in sorted(saga.step_set.all(), key=lambda s: s.position)
        )
        lines.append(f"{name}: saga {saga.pk} {saga.state}: {steps}")
        for child in Saga.objects.filter(parent_id=saga.pk).order_by("pk"):
            lines.append(f"    child saga {child.pk} ({child.name}) {child.state}")
    completed = sum(c["completed"] for c in rows.values())
    stock = dict(Product.objects.values_list("sku", "stock"))
    completed_ids = [saga.id for _, saga in started if finished[saga.id].is_completed()]
    sold: Counter[str] = Counter()
    for scenario, saga in started:
        if finished[saga.id].is_completed():
            for sku, quantity in [(scenario.sku, scenario.quantity), *scenario.more_lines]:
                sold[sku] += quantity
    full = {"widget": WIDGET_STOCK, "gadget": GADGET_STOCK, "gizmo": GIZMO_STOCK}
    stock_ok = all(stock[sku] == full[sku] - sold[sku] for sku in full)
    pickups = Pickup.objects.filter(order__saga_id__in=[saga.id for _, saga in started])
    booked = set(
        pickups.filter(status=Pickup.Status.BOOKED).values_list("order__saga_id", flat=True)
    )
    pickups_ok = set(booked) == set(completed_ids)
    charged = Payment.objects.filter(
        order__saga_id__in=[saga.id for _, saga in started], status=Payment.Status.CHARGED
    )
    payments_ok = sorted(charged.values_list("order__saga_id", flat=True)) == sorted(completed_ids)
    reminded = Order.objects.filter(saga_id__in=completed_ids, reminded_at__isnull=False).count()
    reminders_ok = reminded == len(completed_ids)
    lines.append("")
    lines.append(
        "Stock after: "
        + ", ".join(f"{sku} {stock[sku]} (expected {full[sku] - sold[sku]})" for sku in full)
        + (": consistent" if stock_ok else ": INCONSISTENT")
    )
    lines.append(
        "Pickups: booked for the parcels of the completed orders, cancelled for the others"
        if pickups_ok
        else "Pickups: INCONSISTENT with the completed orders"
    )
    lines.append(
        "Payments: charged exactly for the completed orders"
        if payments_ok
        else "Payments: INCONSISTENT with the completed orders"
    )
    lines.append(
        f"Reminders 'on its way', sent a sleep after shipping: {reminded} of "
        f"{len(completed_ids)} completed orders" + ("" if reminders_ok else " (MISSING)")
    )
    lines.append(
        f"{len(started)} sagas ({completed} completed) in {elapsed:.2f}s: "
        f"{len(started) / elapsed:.1f} sagas/s on {connection.vendor}"
    )
    return lines, all_ok and stock_ok and pickups_ok and payments_ok and reminders_ok


def _ends(saga_ids: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """How each saga's line reservations (its map's items) and its parcels
    (its child sagas) ended, by saga."""
    items: dict[str, list[str]] = {}
    for saga_id, status in SagaStep.objects.filter(
        saga_id__in=saga_ids, name__startswith="reserve_inventory["
    ).values_list("saga_id", "status"):
        items.setdefault(saga_id, []).append(status)
    children: dict[str, list[str]] = {}
    for parent_id, state in Saga.objects.filter(parent_id__in=saga_ids).values_list(
        "parent_id", "state"
    ):
        children.setdefault(parent_id, []).append(state)
    return items, children


def _tally(ends: Counter[str]) -> str:
    """``3 done, 1 undone``: how many ended each way ("-" for none)."""
    return ", ".join(f"{n} {_SHORT.get(end, end)}" for end, n in sorted(ends.items())) or "-"
