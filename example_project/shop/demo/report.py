"""The demo's report: how the orders of each scenario ended against what was
expected, an example saga of each, and whether stock and payments agree with
the orders that completed."""

from __future__ import annotations

from collections import Counter

from django.db import connection

from django_saga.models import Saga
from example_project.shop.models import Order, Payment, Product

from .scenarios import GADGET_STOCK, WIDGET_STOCK, Scenario


def report(
    started: list[tuple[Scenario, Saga]], finished: dict[str, Saga], elapsed: float
) -> tuple[list[str], bool]:
    """The report's lines, and whether every saga ended as expected with stock
    and payments consistent."""
    rows: dict[str, Counter[str]] = {}
    expected: dict[str, str] = {}
    examples: dict[str, Saga] = {}
    for scenario, saga in started:
        name = scenario.name
        final = finished[saga.id]
        rows.setdefault(name, Counter())[final.state] += 1
        expected[name] = scenario.expected
        examples.setdefault(name, final)
    header = (
        f"{'scenario':<26}{'expected':<13}{'sagas':>6}{'completed':>11}"
        f"{'compensated':>13}{'other':>7}"
    )
    lines = ["", header, "-" * len(header)]
    all_ok = True
    for name, counts in rows.items():
        total = sum(counts.values())
        other = total - counts["completed"] - counts["compensated"]
        all_ok &= counts[expected[name]] == total
        lines.append(
            f"{name:<26}{expected[name]:<13}{total:>6}{counts['completed']:>11}"
            f"{counts['compensated']:>13}{other:>7}"
        )
    lines.append("")
    for name, saga in examples.items():
        steps = ", ".join(
            f"{s.name}={s.status}" + (f" ({s.error})" if s.error else "")
            for s in sorted(saga.step_set.all(), key=lambda s: s.position)
        )
        lines.append(f"{name}: saga {saga.pk} {saga.state}: {steps}")
    completed = sum(c["completed"] for c in rows.values())
    widget = Product.objects.get(sku="widget").stock
    gadget = Product.objects.get(sku="gadget").stock
    completed_ids = [saga.id for _, saga in started if finished[saga.id].is_completed()]
    sold = sum(
        scenario.quantity
        for scenario, saga in started
        if finished[saga.id].is_completed() and scenario.sku == "widget"
    )
    stock_ok = widget == WIDGET_STOCK - sold and gadget == GADGET_STOCK
    charged = Payment.objects.filter(
        order__saga_id__in=[saga.id for _, saga in started], status=Payment.Status.CHARGED
    )
    payments_ok = sorted(charged.values_list("order__saga_id", flat=True)) == sorted(completed_ids)
    reminded = Order.objects.filter(saga_id__in=completed_ids, reminded_at__isnull=False).count()
    reminders_ok = reminded == len(completed_ids)
    lines.append("")
    lines.append(
        f"Stock after: widget {widget} (expected {WIDGET_STOCK - sold}), "
        f"gadget {gadget} (expected {GADGET_STOCK}): "
        + ("consistent" if stock_ok else "INCONSISTENT")
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
    return lines, all_ok and stock_ok and payments_ok and reminders_ok
