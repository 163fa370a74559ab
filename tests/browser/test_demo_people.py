"""The example shop's demo, its people part, with the manager in a real
browser: she logs in on the shop's own login page (she is no staff member),
finds the refund in her inbox and approves it there; the demo's second
refund, left unanswered, goes to the directors.

Headless Chromium against the live server serving the example project's
URLs, an engine (and its sweeper) in a thread of the test process.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from ulid import ULID

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the browser fixture fails or skips, saying how to install it
    By = WebDriverWait = None  # type: ignore[assignment,misc]

from django_saga import manager
from django_saga.models import SagaTask
from example_project.shop.demo.people import MANAGER, PASSWORD, ask_people
from example_project.shop.models import Order, Payment
from tests.browser.test_console import find, loaded

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("example_project.urls"),
]

#: Seconds the demo waits for each refund's end; the escalation waits for a sweep.
WAIT = 30


def paid_orders(count: int) -> list[str]:
    """Orders whose sagas completed and whose payments were charged: what
    the demo refunds. Their saga ids."""
    ids = []
    for n in range(count):
        order = Order.objects.create(saga_id=str(ULID()), customer=f"customer {n}")
        Payment.objects.create(
            order=order, amount=Decimal("80.00"), idempotency_key=f"k{n}", status="charged"
        )
        ids.append(order.saga_id)
    return ids


def test_the_demo_s_manager_approves_its_refund_in_her_inbox(browser, live_server, run_engine):
    run_engine()
    answered: list[str] = []

    def in_the_browser(task: SagaTask) -> None:
        answered.append(task.pk)
        inbox = reverse("django_saga:tasks")
        browser.get(f"{live_server.url}{reverse('login')}?next={inbox}")
        loaded(browser)
        browser.find_element(By.ID, "id_username").send_keys(MANAGER)
        browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(browser, WAIT).until(lambda b: b.current_url.endswith(inbox))
        loaded(browser)
        # She opens the first refund (the second may have gone to the
        # directors already: its due time is a second).
        find(browser, f'#tasks tr[data-task="{task.pk}"] a')
        browser.find_element(By.CSS_SELECTOR, f'#tasks tr[data-task="{task.pk}"] a').click()
        WebDriverWait(browser, WAIT).until(lambda b: b.current_url.endswith(f"/tasks/{task.pk}/"))
        loaded(browser)
        assert f"order-{Order.objects.order_by('pk').first().pk}" in find(browser, ".facts").text
        browser.find_element(By.ID, "id_comment").send_keys("parcel received")
        browser.find_element(By.ID, "complete-button").click()
        WebDriverWait(browser, WAIT).until(lambda b: b.current_url.endswith(inbox))
        loaded(browser)
        assert "Completed: Approve a refund." in find(browser, ".messages").text

    lines, ok = ask_people(paid_orders(2), WAIT, approve=in_the_browser)

    assert ok, lines
    assert "approved by demo-manager (completed; payment refunded)" in lines[0]
    assert "so it waits for the directors" in lines[1]
    approved = SagaTask.objects.get(pk__in=answered)
    escalated = SagaTask.objects.exclude(pk__in=answered).get()
    assert (approved.state, approved.done_by) == ("completed", MANAGER)
    refund = manager.get(approved.saga_id)
    assert refund.step("approve_refund").output == {"comment": "parcel received"}
    assert escalated.state == "open"
    assert escalated.escalations == 1
    assert [p.status for p in Payment.objects.order_by("pk")] == ["refunded", "charged"]
