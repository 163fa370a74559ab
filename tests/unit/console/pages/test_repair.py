"""The repair pages: what an action on a saga or on one of its steps will do, a
form asking why, then the action itself.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga import Step, manager
from django_saga.models import OutboxMessage
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.console.helpers import build_saga, logged_in, state_of, urls_of


# -- compensating a saga --------------------------------------------------
@pytest.mark.django_db
def test_confirmation_page_lists_what_will_be_undone_and_cancelled(operator):
    saga = build_saga("started")
    response = logged_in(operator).get(urls_of(saga)["confirm"])
    html = response.content.decode()
    undo = html[html.index('id="undo"') : html.index("</ol>", html.index('id="undo"'))]
    assert "<strong>a</strong>" in undo and "test.undo" in undo
    assert "<strong>b</strong>" in html[html.index('id="cancel"') :]
    assert f'action="{reverse("django_saga:compensate", args=[saga.pk])}"' in html


@pytest.mark.django_db
def test_confirmation_for_a_saga_that_cannot_be_compensated_goes_back_with_a_reason(operator):
    saga = build_saga("compensated")
    response = logged_in(operator).get(urls_of(saga)["confirm"], follow=True)
    assert response.redirect_chain == [(urls_of(saga)["detail"], 302)]
    assert f"Saga {saga.pk} is already compensated." in response.content.decode()


@pytest.mark.django_db
def test_compensating_a_compensated_saga_is_refused_with_a_message(operator):
    saga = build_saga("compensated")
    response = logged_in(operator).post(
        reverse("django_saga:compensate", args=[saga.pk]), follow=True
    )
    assert f"Saga {saga.pk} is already compensated." in response.content.decode()
    assert state_of(saga) == "compensated"
    assert not OutboxMessage.objects.filter(saga=saga).exists()


@pytest.mark.django_db(transaction=True)
def test_an_operator_compensates_a_failed_saga_from_its_page(operator, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    run_engine()
    saga = manager.start(
        "order",
        [Step("a", "test.record", "test.undo"), Step("b", "test.fail", "test.undo")],
    )
    assert wait_terminal(saga.id).state == "failed"
    client = logged_in(operator)
    confirm = client.get(reverse("django_saga:confirm-compensate", args=[saga.id]))
    assert "<strong>a</strong>" in confirm.content.decode()
    response = client.post(
        reverse("django_saga:compensate", args=[saga.id]), {"reason": "ticket 12"}, follow=True
    )
    assert response.redirect_chain == [(reverse("django_saga:detail", args=[saga.id]), 302)]
    assert "Compensation requested" in response.content.decode()
    assert wait_terminal(saga.id).state == "compensated"
    assert Ledger.objects.filter(action="undo:a").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_operator_retries_a_failed_compensation(operator, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "COMPENSATION_MAX_ATTEMPTS": 1}
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("a", "test.record", "test.undo_flaky", {"undo_fail_times": 1}),
            Step("b", "test.fail", ""),
        ],
    )
    assert wait_terminal(saga.id).state == "compensation_failed"
    client = logged_in(operator)
    assert (
        client.get(reverse("django_saga:confirm-retry-compensation", args=[saga.id])).status_code
        == 200
    )
    client.post(
        reverse("django_saga:retry-compensation", args=[saga.id]), {"reason": "refunds are back"}
    )
    assert wait_terminal(saga.id).state == "compensated"
    assert Ledger.objects.filter(action="undo:a").count() == 1
