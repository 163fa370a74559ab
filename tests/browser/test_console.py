"""An operator in a real browser: log in, find a failed saga, compensate it.

Headless Chromium against pytest-django's live server, with an engine
running in a thread of the test process. ``SAGA_UPDATE_SCREENSHOTS=1``
writes the screenshots the README shows to docs/.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

try:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # the browser fixture fails or skips, saying how to install it
    By = Select = WebDriverWait = StaleElementReferenceException = None  # type: ignore[assignment,misc]

from django_saga import Step, manager
from django_saga.models import Saga
from tests.browser import shop  # noqa: F401  (registers the shop's handlers)
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.console.helpers import COMPENSATE, RETRY, VIEW, build_saga, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT = 20


def order(**payment: Any) -> list[Step]:
    return [
        Step("create_order", "shop.orders.create", "shop.orders.cancel", {"items": 2}),
        Step(
            "reserve_inventory",
            "shop.inventory.reserve",
            "shop.inventory.release",
            {"sku": "prod-123", "quantity": 2, **payment.pop("reserve", {})},
        ),
        Step(
            "charge_payment",
            "shop.payment.charge",
            "shop.payment.refund",
            {"amount": "99.99", "card": "card-456", **payment},
        ),
        Step("schedule_shipping", "shop.shipping.schedule", "", {"address": "12 Quay St"}),
    ]


@pytest.fixture
def console(settings, run_engine, django_user_model):
    """A shop's worth of sagas, one of them failed and waiting; an operator to log in."""
    settings.LOGIN_URL = "/admin/login/"
    settings.SAGA = {**settings.SAGA, "CONSOLE_REFRESH": 1, "STALE_AFTER": 900}
    run_engine()
    build_saga("started", name="stock_transfer", updated_ago=timedelta(hours=2))
    finished = [
        manager.start("order_processing", order(), context={"customer_id": f"cust-{n}"})
        for n in range(3)
    ]
    finished += [
        manager.start("order_processing", order(decline=True)),
        manager.start("order_processing", order(decline=True, reserve={"release_fails": True})),
    ]
    for saga in finished:
        wait_terminal(saga.id)
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    failed = manager.start(
        "order_processing", order(decline=True), context={"customer_id": "cust-789"}
    )
    assert wait_terminal(failed.id).state == "failed"
    make_user(django_user_model, VIEW, COMPENSATE, RETRY, name="operator")
    return failed


def log_in(browser, live_server, next_path: str) -> None:
    browser.get(f"{live_server.url}{next_path}")
    # Not logged in: the console sends the browser to the login page.
    assert "/admin/login/" in browser.current_url, browser.page_source[:3000]
    browser.find_element(By.ID, "id_username").send_keys("operator")
    browser.find_element(By.ID, "id_password").send_keys("pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url.endswith(next_path))
    loaded(browser)


def loaded(browser) -> None:
    """Wait until the page that a click or a reload led to has finished loading."""
    WebDriverWait(browser, WAIT).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )


def find(browser, css: str):
    """The element ``css`` selects, once the page shows it."""
    return WebDriverWait(browser, WAIT).until(lambda b: b.find_element(By.CSS_SELECTOR, css))


def full_page_screenshot(browser, path: Path) -> None:
    """The whole page, however long, 1280 pixels wide."""
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    viewport = {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", viewport)
    try:
        assert browser.save_screenshot(str(path))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert path.stat().st_size > 10_000


def shown_state(browser) -> str | None:
    """The state the saga's page shows (None while a reload is under way)."""
    found = browser.find_elements(By.ID, "saga-state")
    try:
        return found[0].get_attribute("data-state") if found else None
    except StaleElementReferenceException:
        return None


def test_an_operator_compensates_a_failed_saga_from_the_console(
    browser, live_server, console, screenshots
):
    failed = console
    log_in(browser, live_server, reverse("django_saga:dashboard"))

    find(browser, "#counts .card")
    counts = {
        card.get_attribute("data-state"): card.find_element(By.CLASS_NAME, "n").text
        for card in browser.find_elements(By.CSS_SELECTOR, "#counts .card")
    }
    assert counts["failed"] == "1"
    assert counts["completed"] == "3"
    assert counts["compensated"] == "1"
    assert counts["compensation_failed"] == "1"
    stuck = browser.find_element(By.ID, "stuck").text
    assert "stock_transfer" in stuck
    full_page_screenshot(browser, screenshots / "dashboard.png")

    browser.find_element(By.CSS_SELECTOR, f'#waiting a[href$="/{failed.id}/"]').click()
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url.endswith(f"/{failed.id}/"))
    loaded(browser)
    assert shown_state(browser) == "failed"
    charge = find(browser, "#step-charge_payment")
    assert charge.get_attribute("data-status") == "failed"
    assert "PaymentDeclined: card card-456 declined by the issuer" in charge.text
    full_page_screenshot(browser, screenshots / "saga-detail.png")

    browser.find_element(By.ID, "compensate-button").click()
    find(browser, "#confirm-button")
    undo = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#undo li")]
    assert [line.split(":")[0] for line in undo] == ["reserve_inventory", "create_order"]
    browser.find_element(By.NAME, "reason").send_keys("The customer cancelled: ticket 42")
    browser.find_element(By.ID, "confirm-button").click()

    # Back on the saga's page, which reloads itself until the saga is done.
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url.endswith(f"/{failed.id}/"))
    WebDriverWait(browser, WAIT).until(lambda b: shown_state(b) == "compensated")
    assert Saga.objects.get(pk=failed.id).state == "compensated"
    undone = set(
        Ledger.objects.filter(
            action__startswith="undo:", step_id__in=[s.id for s in failed.steps]
        ).values_list("action", flat=True)
    )
    assert undone == {"undo:create_order", "undo:reserve_inventory"}


def test_an_operator_compensates_a_failed_saga_with_the_admin_action(browser, live_server, console):
    failed = console
    changelist = reverse("admin:django_saga_saga_changelist") + "?state__exact=failed"
    log_in(browser, live_server, changelist)
    find(browser, f'input[name="_selected_action"][value="{failed.id}"]').click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("compensate_sagas")
    browser.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()
    # The action first asks why, on a page listing the selection.
    reason = WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.NAME, "reason"))
    reason[0].send_keys("the customer cancelled")
    browser.find_element(By.CSS_SELECTOR, 'input[type="submit"][value^="Yes"]').click()
    message = WebDriverWait(browser, WAIT).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, ".messagelist .success")
    )
    assert message[0].text == "Compensation requested for 1 saga."
    assert wait_terminal(failed.id).state == "compensated"
    browser.get(f"{live_server.url}{reverse('admin:django_saga_saga_change', args=[failed.id])}")
    assert "compensated" in find(browser, ".field-state_badge").text


def test_step_output_with_a_script_tag_is_shown_as_text(
    browser, live_server, settings, django_user_model
):
    settings.LOGIN_URL = "/admin/login/"
    payload = "<script>window.sagaXss = 1</script>"
    saga = build_saga(
        "failed", name='<img src=x onerror="window.sagaXss = 2">', output={"note": payload}
    )
    make_user(django_user_model, VIEW, name="operator")
    log_in(browser, live_server, reverse("django_saga:detail", args=[saga.pk]))
    assert browser.execute_script("return window.sagaXss") is None
    output = find(browser, "#step-a .step-output").text
    assert payload in output
    assert (
        '<img src=x onerror="window.sagaXss = 2">' in browser.find_element(By.TAG_NAME, "h1").text
    )
