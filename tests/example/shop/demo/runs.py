"""The demo's orders run to their end by the test kit, the payment provider
standing in as the demo's does: amounts over the shop's limit declined."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from django_saga.models import Saga
from django_saga.testing import SagaTestKit
from example_project.shop.demo.scenarios import SCENARIOS, Scenario, place, stock_shelves


def run_every_scenario(kit: SagaTestKit) -> list[tuple[Scenario, Saga]]:
    """Place one order per scenario and run each to where the demo leaves it
    before its operator steps in (an island order halts)."""
    stock_shelves()
    started = [(scenario, place(n, scenario)) for n, scenario in enumerate(SCENARIOS)]
    kit.run()
    limit = Decimal(str(settings.SHOP_PAYMENT_LIMIT))
    for scenario, saga in started:
        if kit.saga(saga).step("request_payment").status != "waiting":
            continue
        if scenario.amount > limit:
            kit.fail_step(saga, "request_payment", f"declined: {scenario.amount}")
        else:
            kit.complete_step(saga, "request_payment", {"charge_id": f"ch_{saga.pk}"})
    kit.advance(hours=1)  # the express courier's retries at islands run out
    return started


def finished(started: list[tuple[Scenario, Saga]]) -> dict[str, Saga]:
    """The sagas as they stand now, as the demo reads them when it waits."""
    ids = [saga.pk for _, saga in started]
    return {s.pk: s for s in Saga.objects.filter(pk__in=ids).prefetch_related("step_set")}
