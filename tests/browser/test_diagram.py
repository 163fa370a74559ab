"""The saga page's diagram in a real browser: the demo's order, declined and undone.

``SAGA_UPDATE_SCREENSHOTS=1`` writes docs/saga-diagram.png, the picture the
diagrams guide and the README show.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

try:
    from selenium.webdriver.common.by import By
except ImportError:  # the browser fixture fails or skips, saying how to install it
    By = None  # type: ignore[assignment,misc]

from django_saga import SagaDefinition, Step, parallel
from tests.browser import shop  # noqa: F401  (registers the shop's handlers)
from tests.browser.test_console import find, log_in
from tests.helpers import wait_terminal
from tests.unit.console.helpers import VIEW, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class ShopOrder(SagaDefinition):
    """The example shop's order (example_project/shop/orders.py) on the test shop's handlers."""

    name = "order_processing"
    version = 3

    def steps(self):
        return [
            Step("create_order", "shop.orders.create", "shop.orders.cancel", {"items": 2}),
            parallel(
                Step(
                    "reserve_inventory",
                    "shop.inventory.reserve",
                    "shop.inventory.release",
                    {"sku": "prod-123", "quantity": 2},
                ),
                Step("validate_address", "shop.shipping.validate", input={"address": "12 Quay St"}),
            ),
            Step("gift_wrap", "shop.orders.gift_wrap", input={"wrap": False}),
            Step(
                "charge_payment",
                "shop.payment.charge",
                "shop.payment.refund",
                {"amount": "99.99", "card": "card-456", "decline": self.params["decline"]},
            ),
            Step("capture_payment", "shop.payment.capture", pivot=True),
            Step("schedule_shipping", "shop.shipping.schedule", input={"address": "12 Quay St"}),
        ]


def test_the_saga_page_of_a_compensated_order_shows_its_diagram(
    browser, live_server, settings, run_engine, django_user_model, screenshots
):
    settings.LOGIN_URL = "/admin/login/"
    run_engine()
    saga = ShopOrder(decline=True).start()
    assert wait_terminal(saga.id).state == "compensated"
    make_user(django_user_model, VIEW, name="operator")

    log_in(browser, live_server, reverse("django_saga:detail", args=[saga.pk]))
    svg = find(browser, "#diagram svg.saga-diagram")
    assert svg.is_displayed()
    assert svg.size["width"] > 800 and svg.size["height"] > 150
    # Drawn on the server: no script on the page, nothing fetched but the page itself.
    assert browser.execute_script("return document.scripts.length") == 0
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert fetched == []

    steps = {
        g.get_attribute("data-step"): g
        for g in browser.find_elements(By.CSS_SELECTOR, "#diagram g.sg-step")
    }
    assert {name: g.get_attribute("data-status") for name, g in steps.items()} == {
        "create_order": "compensated",
        "reserve_inventory": "compensated",
        "validate_address": "compensated",
        "gift_wrap": "skipped",
        "charge_payment": "failed",
        "capture_payment": "cancelled",
        "schedule_shipping": "cancelled",
    }
    assert all(g.is_displayed() for g in steps.values())
    assert steps["capture_payment"].get_attribute("data-pivot") == "true"
    # Parallel steps side by side in one column: one above the other.
    reserve, validate = steps["reserve_inventory"].rect, steps["validate_address"].rect
    assert reserve["x"] == validate["x"] and reserve["y"] < validate["y"]
    assert steps["create_order"].rect["x"] < reserve["x"] < steps["gift_wrap"].rect["x"]
    # Undone last stage first: the inventory, then the order.
    undone = [
        (g.get_attribute("data-undo"), g.text)
        for g in browser.find_elements(By.CSS_SELECTOR, "#diagram g.sg-undo-step")
    ]
    assert undone == [("1", "1"), ("2", "2")]
    assert steps["reserve_inventory"].get_attribute("data-undo") == "1"
    assert steps["create_order"].get_attribute("data-undo") == "2"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#diagram path.sg-undo-arrow")) == 2

    # Wide enough for the whole diagram: the picture shows it without a scroll bar.
    width = max(1280, svg.size["width"] + 120)
    viewport = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_script("document.querySelector('main').style.maxWidth = 'none'")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", viewport)
    figure = browser.find_element(By.ID, "diagram")
    browser.execute_script("arguments[0].scrollIntoView()", figure)
    path = screenshots / "saga-diagram.png"
    try:
        assert figure.screenshot(str(path))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert 10_000 < path.stat().st_size < 400_000
