"""The repair pages: what an action on a saga or on one of its steps will do, a
form asking why, then the action itself.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from django_saga import Step, manager
from django_saga.models import Intervention, OutboxMessage
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.console.helpers import (
    SHIP_ERROR,
    api,
    build_saga,
    field_errors,
    halted_saga,
    logged_in,
    post_json,
    shop,
    shown_messages,
    state_of,
    step_of,
    step_page,
    urls_of,
)


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


@pytest.mark.django_db
def test_the_compensate_page_says_what_will_happen_and_asks_why(repairer):
    html = logged_in(repairer).get(
        reverse("django_saga:confirm-compensate", args=[build_saga("failed").pk])
    )
    text = html.content.decode()
    assert "completed steps are undone, last first" in text
    assert re.search(r'<textarea name="reason"[^>]*required', text)


@pytest.mark.django_db
def test_the_console_refuses_to_compensate_a_halted_saga_saying_why(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    confirm = client.get(reverse("django_saga:confirm-compensate", args=[saga.pk]), follow=True)
    assert shown_messages(confirm) == [
        f"Saga {saga.pk} is past its pivot step 'capture': what it did cannot be undone, so "
        "it cannot be compensated; retry or skip the failed step instead."
    ]
    client.post(reverse("django_saga:compensate", args=[saga.pk]), {"reason": "undo it"})
    assert state_of(saga) == "halted"
    assert not Intervention.objects.exists()


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


# -- retrying or skipping a step ------------------------------------------
@pytest.mark.django_db
def test_the_retry_page_says_what_will_happen_and_offers_the_steps_input(repairer):
    saga = halted_saga()
    response = logged_in(repairer).get(step_page("retry-step", saga, "ship"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "The step runs again, with the input given" in html
    assert SHIP_ERROR in html[html.index('id="step-error"') :]
    assert "2 attempts" in html[html.index('id="step-attempts"') :]
    textarea = re.search(r'<textarea name="step_json"[^>]*>(.*?)</textarea>', html, re.S)
    assert textarea is not None
    assert json.loads(textarea[1].replace("&quot;", '"')) == {"parcel": "p-1"}
    assert re.search(r'<textarea name="reason"[^>]*required', html)
    assert f'action="{step_page("retry-step", saga, "ship")}"' in html


@pytest.mark.django_db
def test_the_skip_page_says_the_handler_will_not_run_and_offers_an_empty_output(repairer):
    saga = halted_saga()
    html = logged_in(repairer).get(step_page("skip-step", saga, "ship")).content.decode()
    assert "Its handler does not run: do what it would have done first." in html
    textarea = re.search(r'<textarea name="step_json"[^>]*>(.*?)</textarea>', html, re.S)
    assert textarea is not None and textarea[1].strip() == "{}"


@pytest.mark.django_db
def test_the_console_refuses_to_retry_a_completed_step_saying_why(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    page = step_page("retry-step", saga, "capture")
    sentence = f"Step 'capture' of saga {saga.pk} is completed; only a failed step can be retried."
    shown = client.get(page, follow=True)
    assert shown.redirect_chain == [(reverse("django_saga:detail", args=[saga.pk]), 302)]
    assert shown_messages(shown) == [sentence]
    posted = client.post(page, {"reason": "r", "step_json": "{}"}, follow=True)
    assert shown_messages(posted) == [sentence]
    assert step_of(saga, "capture").attempts == 1
    assert not OutboxMessage.objects.filter(saga=saga).exists()


@pytest.mark.django_db
def test_unknown_sagas_and_steps_are_404(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    assert client.get(reverse("django_saga:retry-step", args=[saga.pk, "NOPE"])).status_code == 404
    assert client.get(reverse("django_saga:skip-step", args=["NOPE", "NOPE"])).status_code == 404
    unknown_step = post_json(client, api("retry", saga, "nope"), {"reason": "r"})
    assert unknown_step.status_code == 404
    assert unknown_step.json()["message"] == f"Saga {saga.pk} has no step 'nope'."
    unknown_saga = post_json(client, reverse("django_saga:api-retry-step", args=["NOPE", "x"]), {})
    assert unknown_saga.status_code == 404 and unknown_saga.json()["error"] == "not_found"


# -- what the operator must give ------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   \n "])
def test_the_console_requires_a_reason(repairer, reason):
    saga = halted_saga()
    client = logged_in(repairer)
    response = client.post(
        step_page("retry-step", saga, "ship"), {"reason": reason, "step_json": '{"ok": true}'}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "A reason is required" in field_errors(html, "reason")
    # What the operator typed is still there to fix.
    assert "&quot;ok&quot;: true" in html
    compensate = client.post(reverse("django_saga:compensate", args=[build_saga("failed").pk]))
    assert compensate.status_code == 400
    assert "A reason is required" in field_errors(compensate.content.decode(), "reason")
    assert not Intervention.objects.exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_a_reason_longer_than_the_trail_takes_is_refused(repairer):
    saga = halted_saga()
    response = logged_in(repairer).post(
        step_page("skip-step", saga, "ship"), {"reason": "x" * 2001, "step_json": "{}"}
    )
    assert response.status_code == 400
    assert "at most 2000 characters" in field_errors(response.content.decode(), "reason")
    assert step_of(saga, "ship").status == "failed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"ok": tru', "The input is not JSON: Expecting value"),
        ("[1, 2]", "The input must be a JSON object ({...}), not an array."),
        ("", "Give the input as a JSON object: {} for none."),
    ],
)
def test_the_console_refuses_bad_json_next_to_the_field(repairer, text, error):
    saga = halted_saga()
    response = logged_in(repairer).post(
        step_page("retry-step", saga, "ship"), {"reason": "r", "step_json": text}
    )
    assert response.status_code == 400
    assert error in field_errors(response.content.decode(), "step_json")
    assert step_of(saga, "ship").status == "failed"
    assert not Intervention.objects.exists()


# -- repairs that go through ----------------------------------------------
@pytest.mark.django_db
def test_a_console_retry_with_new_input_is_sent_recorded_and_logged(repairer):
    saga = halted_saga()
    response = logged_in(repairer).post(
        step_page("retry-step", saga, "ship"),
        {"reason": "carrier fixed, ticket 7", "step_json": '{"parcel": "p-1", "ok": true}'},
        follow=True,
    )
    assert response.redirect_chain == [(reverse("django_saga:detail", args=[saga.pk]), 302)]
    assert shown_messages(response) == ["Step sent again: the saga goes on once it succeeds."]
    ship = step_of(saga, "ship")
    assert (ship.status, ship.attempts, ship.input) == ("started", 3, {"parcel": "p-1", "ok": True})
    assert state_of(saga) == "started"
    assert OutboxMessage.objects.filter(saga=saga, kind="execute").count() == 1
    entry = Intervention.objects.get(saga=saga)
    assert (entry.action, entry.step, entry.actor, entry.reason) == (
        "retry_step",
        "ship",
        "repairer",
        "carrier fixed, ticket 7",
    )
    assert entry.details["input"] == {"parcel": "p-1", "ok": True}
    log = LogEntry.objects.get(object_id=saga.pk)
    assert log.user == repairer
    assert "carrier fixed, ticket 7" in log.change_message


@pytest.mark.django_db
def test_a_console_retry_with_the_input_left_as_it_was_keeps_the_steps_input(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    page = client.get(step_page("retry-step", saga, "ship")).content.decode()
    offered = re.search(r'<textarea name="step_json"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert offered is not None
    client.post(
        step_page("retry-step", saga, "ship"),
        {"reason": "try again", "step_json": offered[1].replace("&quot;", '"')},
    )
    assert step_of(saga, "ship").input == {"parcel": "p-1"}
    assert step_of(saga, "ship").status == "started"
    assert "input" not in Intervention.objects.get(saga=saga).details


@pytest.mark.django_db(transaction=True)
def test_an_operator_takes_a_halted_saga_to_completion_from_the_console(repairer, run_engine):
    run_engine()
    saga = manager.start("order", shop())
    assert wait_terminal(saga.id).state == "halted"
    client = logged_in(repairer)
    html = client.get(reverse("django_saga:detail", args=[saga.id])).content.decode()
    assert "Halted: an operator must act" in html
    response = client.post(
        step_page("retry-step", saga, "ship"),
        {"reason": "the service is back", "step_json": '{"ok": true}'},
    )
    assert response.status_code == 302
    assert wait_terminal(saga.id).state == "completed"
    done = Ledger.objects.filter(step_id__in=[s.id for s in manager.get(saga.id).steps])
    assert sorted(done.values_list("action", flat=True)) == ["do:capture", "do:reserve", "do:ship"]
