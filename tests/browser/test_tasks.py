"""A refund manager in a real browser: the inbox shows what waits for her,
the task's page asks its form, a wrong amount is shown back beside its
field with what she typed, and her approval completes the saga.

Headless Chromium against the live server, an engine in a thread of the
test process. She is no staff member and may not use the console: the
task pages are hers all the same. ``SAGA_UPDATE_SCREENSHOTS=1`` writes
the inbox and the task's page the guide shows to docs/.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the browser fixture fails or skips, saying how to install it
    By = WebDriverWait = None  # type: ignore[assignment,misc]

from django_saga import Step, Task, manager
from django_saga.models import SagaTask
from tests.browser.test_console import find, full_page_screenshot, loaded
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.testapp.forms import RefundDecisionForm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT = 20


def refund(order: str, amount: str) -> list:
    return [
        Step("hold", "test.record", "test.undo"),
        Task(
            "approve",
            title="Approve a refund",
            form=RefundDecisionForm,
            candidates=["refund-managers"],
            show={"Order": "context.order", "Amount": "context.amount"},
        ),
        Step("refund", "test.record", ""),
    ]


def signed_in(browser, live_server, user) -> None:
    """The browser carries ``user``'s session (the project's own login page would)."""
    client = Client()
    client.force_login(user)
    browser.get(f"{live_server.url}/sagas/tasks/does-not-matter/")
    browser.add_cookie(
        {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "path": "/",
        }
    )


def test_a_manager_approves_a_refund_from_her_inbox(
    browser, live_server, run_engine, django_user_model, screenshots
):
    run_engine()
    mia = django_user_model.objects.create(username="mia", is_staff=False)
    mia.groups.add(Group.objects.get_or_create(name="refund-managers")[0])
    sagas = []
    for order, amount in (("SO-1041", "640.00"), ("SO-1042", "120.00")):
        sagas.append(
            manager.start("refund", refund(order, amount), {"order": order, "amount": amount})
        )
        # One task after the other: the inbox lists the newest first.
        wait_for(lambda: SagaTask.objects.count() == len(sagas), WAIT, f"the task of {order}")
    signed_in(browser, live_server, mia)

    browser.get(f"{live_server.url}{reverse('django_saga:tasks')}")
    loaded(browser)
    assert find(browser, "#tasks-count").text == "2"
    assert browser.find_elements(By.ID, "flow-link") == []  # no console for her
    rows = browser.find_elements(By.CSS_SELECTOR, "#tasks tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, ".shown").text for row in rows] == [
        "Order: SO-1042, Amount: 120.00",
        "Order: SO-1041, Amount: 640.00",
    ]
    full_page_screenshot(browser, screenshots / "tasks-inbox.png")

    task = SagaTask.objects.get(saga_id=sagas[0].pk)
    browser.find_element(By.CSS_SELECTOR, f'#tasks tr[data-task="{task.pk}"] a').click()
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url.endswith(f"/tasks/{task.pk}/"))
    loaded(browser)
    assert "SO-1041" in find(browser, ".facts").text
    amount = browser.find_element(By.ID, "id_amount")
    amount.send_keys("-640")
    browser.find_element(By.ID, "id_note").send_keys("the parcel came back")
    browser.find_element(By.ID, "complete-button").click()
    # Refused by the form: the error beside the field, what she typed kept.
    error = find(browser, "#id_amount_error")
    assert "greater than or equal to 0" in error.text
    assert browser.find_element(By.ID, "id_note").get_attribute("value") == "the parcel came back"
    assert SagaTask.objects.get(pk=task.pk).state == "open"
    full_page_screenshot(browser, screenshots / "task-page.png")

    amount = browser.find_element(By.ID, "id_amount")
    amount.clear()
    amount.send_keys("640.00")
    browser.find_element(By.ID, "complete-button").click()
    WebDriverWait(browser, WAIT).until(
        lambda b: b.current_url.endswith(reverse("django_saga:tasks"))
    )
    loaded(browser)
    assert "Completed: Approve a refund." in find(browser, ".messages").text
    assert find(browser, "#tasks-count").text == "1"

    done = wait_terminal(sagas[0].pk)
    assert done.state == "completed"
    assert done.step("approve").output == {"amount": "640.00", "note": "the parcel came back"}
    assert SagaTask.objects.get(pk=task.pk).done_by == "mia"
