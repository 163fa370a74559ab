"""Operator repairs in the console and the JSON API: retry or skip a step,
compensate with a reason, re-drive many sagas, and the trail they leave."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from django_saga import Step, manager
from django_saga.console.pages import redrive
from django_saga.models import Intervention, OutboxMessage, Saga, SagaStep
from tests import factories
from tests.factories import SagaFactory, SagaStepFactory
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger
from tests.unit.test_views import (
    COMPENSATE,
    RETRY,
    VIEW,
    build_saga,
    logged_in,
    make_user,
    state_of,
)

RETRY_STEP = "django_saga.retry_saga_step"
SKIP_STEP = "django_saga.skip_saga_step"
REDRIVE = "django_saga.redrive_sagas"
EVERYTHING = (VIEW, COMPENSATE, RETRY, RETRY_STEP, SKIP_STEP, REDRIVE)

SHIP_ERROR = "RetryableError: ship: the service refuses attempt 2"


def halted_saga(name: str = "order", *, updated_ago: timedelta | None = None) -> Saga:
    """The step ``ship`` failed twice with ``SHIP_ERROR``; ``notify`` waits after it."""
    saga = factories.halted_saga(name, SHIP_ERROR, attempts=2, input={"parcel": "p-1"})
    SagaStepFactory(saga=saga, position=3, name="notify", compensation="")
    if updated_ago is not None:
        Saga.objects.filter(pk=saga.pk).update(updated_at=saga.updated_at - updated_ago)
    return saga


def shop() -> list[Step]:
    """Reserve (undoable), capture the payment (the pivot), ship (needs an operator)."""
    return [
        Step("reserve", "test.record", "test.undo"),
        Step("capture", "test.record", pivot=True),
        Step("ship", "test.needs_ok"),
    ]


@pytest.fixture
def repairer(django_user_model):
    return make_user(django_user_model, *EVERYTHING, name="repairer")


def step_page(operation: str, saga: Saga, step: str) -> str:
    """The console's page retrying or skipping the step named ``step``."""
    step_id = SagaStep.objects.get(saga=saga, name=step).pk
    return reverse(f"django_saga:{operation}", args=[saga.pk, step_id])


def api(operation: str, saga: Saga, step: str) -> str:
    """The JSON endpoint that retries or skips (``operation``) a step, by name or id."""
    return reverse(f"django_saga:api-{operation}-step", args=[saga.pk, step])


def post_json(client: Client, url: str, body: Any) -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, text, content_type="application/json")


def card(html: str, step: str) -> str:
    """The HTML of one step's card on the saga's page."""
    start = html.index(f'id="step-{step}"')
    after = html.find('id="step-', start + 1)
    return html[start : after if after != -1 else html.index("</ol>", start)]


def shown_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def field_errors(html: str, field: str) -> str:
    """The errors shown under one form field ("" if none)."""
    found = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return found[1] if found else ""


def step_of(saga: Saga, name: str) -> SagaStep:
    return SagaStep.objects.get(saga=saga, name=name)


# -- the saga's page ----------------------------------------------------------
@pytest.mark.django_db
def test_step_buttons_show_where_the_step_can_be_repaired_and_the_user_may(
    django_user_model, repairer
):
    saga = halted_saga()
    url = reverse("django_saga:detail", args=[saga.pk])
    html = logged_in(repairer).get(url).content.decode()
    ship = card(html, "ship")
    assert f'href="{step_page("retry-step", saga, "ship")}"' in ship
    assert f'href="{step_page("skip-step", saga, "ship")}"' in ship
    for done in ("reserve", "capture", "notify"):
        assert "data-action=" not in card(html, done)

    only_retry = make_user(django_user_model, VIEW, RETRY_STEP, name="retrier")
    retrier_card = card(logged_in(only_retry).get(url).content.decode(), "ship")
    assert 'data-action="retry-step"' in retrier_card
    assert 'data-action="skip-step"' not in retrier_card
    viewer = make_user(django_user_model, VIEW, name="viewer")
    assert "data-action=" not in logged_in(viewer).get(url).content.decode()


@pytest.mark.django_db
def test_a_waiting_step_of_a_running_saga_can_be_skipped_but_not_retried(repairer):
    saga = SagaFactory(name="order")
    SagaStepFactory(saga=saga, position=0, name="create", completed=True)
    SagaStepFactory(saga=saga, position=1, name="approve", waiting=True)
    html = logged_in(repairer).get(reverse("django_saga:detail", args=[saga.pk])).content
    approve = card(html.decode(), "approve")
    assert 'data-action="skip-step"' in approve
    assert 'data-action="retry-step"' not in approve
    assert "data-action=" not in card(html.decode(), "create")


@pytest.mark.django_db
def test_a_halted_saga_says_an_operator_must_act_and_marks_its_pivot(repairer):
    saga = halted_saga()
    html = logged_in(repairer).get(reverse("django_saga:detail", args=[saga.pk])).content.decode()
    note = re.search(r'id="operator-note"[^>]*>(.*?)</div>', html, re.S)
    assert note is not None
    assert "Halted: an operator must act" in note[1]
    assert "pivot step &#x27;capture&#x27;" in note[1] and "&#x27;ship&#x27;" in note[1]
    assert "pivot: point of no return" in card(html, "capture")
    assert "pivot: point of no return" not in card(html, "ship")
    # Past its pivot, the saga cannot be compensated: no button offers it.
    assert 'id="compensate-button"' not in html


@pytest.mark.django_db
def test_a_saga_that_is_not_waiting_for_an_operator_shows_no_call_to_act(repairer):
    html = logged_in(repairer).get(reverse("django_saga:detail", args=[build_saga("completed").pk]))
    assert 'id="operator-note"' not in html.content.decode()


# -- confirmation pages -----------------------------------------------------
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
def test_the_compensate_page_says_what_will_happen_and_asks_why(repairer):
    html = logged_in(repairer).get(
        reverse("django_saga:confirm-compensate", args=[build_saga("failed").pk])
    )
    text = html.content.decode()
    assert "completed steps are undone, last first" in text
    assert re.search(r'<textarea name="reason"[^>]*required', text)


# -- permissions ----------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("operation", "permission"), [("retry-step", RETRY_STEP), ("skip-step", SKIP_STEP)]
)
def test_each_step_operation_needs_its_own_permission(django_user_model, operation, permission):
    saga = halted_saga()
    others = [perm for perm in EVERYTHING if perm != permission]
    client = logged_in(make_user(django_user_model, *others))
    page = step_page(operation, saga, "ship")
    assert client.get(page).status_code == 403
    assert client.post(page, {"reason": "r", "step_json": "{}"}).status_code == 403
    refused = post_json(client, api(operation.removesuffix("-step"), saga, "ship"), {"reason": "r"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "permission_denied"
    assert permission in refused.json()["message"]
    assert step_of(saga, "ship").status == "failed"
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_re_driving_needs_its_own_permission(django_user_model):
    halted_saga()
    others = [perm for perm in EVERYTHING if perm != REDRIVE]
    client = logged_in(make_user(django_user_model, *others))
    assert client.get(reverse("django_saga:redrive")).status_code == 403
    form = {"rate": "5", "reason": "r", "run": "1"}
    assert client.post(reverse("django_saga:redrive"), form).status_code == 403
    refused = post_json(client, reverse("django_saga:api-redrive"), {"rate": 5})
    assert refused.status_code == 403 and REDRIVE in refused.json()["message"]
    assert 'id="redrive-link"' not in client.get(reverse("django_saga:dashboard")).content.decode()
    assert not Intervention.objects.exists()
    assert Saga.objects.get().state == "halted"


# -- refusals -------------------------------------------------------------
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


@pytest.mark.django_db
def test_the_api_refuses_with_409_the_sentence_and_the_state(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    retried = post_json(client, api("retry", saga, "capture"), {"reason": "r"})
    assert retried.status_code == 409
    assert retried.json() == {
        "error": "invalid_state_transition",
        "message": f"Step 'capture' of saga {saga.pk} is completed; "
        "only a failed step can be retried.",
        "state": "halted",
    }
    skipped = post_json(client, api("skip", saga, "notify"), {"reason": "r"})
    assert skipped.status_code == 409 and "is pending" in skipped.json()["message"]
    compensated = post_json(
        client, reverse("django_saga:api-compensate", args=[saga.pk]), {"reason": "r"}
    )
    assert compensated.status_code == 409
    assert "past its pivot step 'capture'" in compensated.json()["message"]
    assert compensated.json()["state"] == "halted"
    assert not Intervention.objects.exists()


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


# -- what the operator must give --------------------------------------------
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


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{nope", "The body is not JSON"),
        ("[1]", "The body must be a JSON object, not an array."),
        ({"reason": "r", "inputs": {"ok": True}}, "Unknown field 'inputs'"),
        ({"reason": "r", "input": [1]}, "must be a JSON object, got list"),
        ({"reason": 12}, "reason must be a string"),
    ],
)
def test_the_api_refuses_a_body_it_cannot_use_naming_the_problem(repairer, body, error):
    saga = halted_saga()
    response = post_json(logged_in(repairer), api("retry", saga, "ship"), body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert error in response.json()["message"]
    assert step_of(saga, "ship").status == "failed"


@pytest.mark.django_db
def test_the_api_refuses_form_fields_but_takes_an_empty_form_as_no_body(repairer):
    saga = build_saga("failed")
    client = logged_in(repairer)
    url = reverse("django_saga:api-compensate", args=[saga.pk])
    form = client.post(url, {"reason": "r"})
    assert form.status_code == 400 and "not a form" in form.json()["message"]
    assert state_of(saga) == "failed"
    # An empty form is no body at all: the operator still has to say why.
    empty = client.post(url)
    assert empty.status_code == 400 and "A reason is required" in empty.json()["message"]
    assert state_of(saga) == "failed"
    assert post_json(client, url, {"reason": "r"}).status_code == 202
    assert state_of(saga) == "compensating"


# -- repairs that go through -------------------------------------------------
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


@pytest.mark.django_db
def test_the_trail_shows_on_the_saga_page_and_in_its_json(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    client.post(
        step_page("skip-step", saga, "ship"),
        {"reason": "shipped by hand", "step_json": '{"tracking": "T-1"}'},
    )
    html = client.get(reverse("django_saga:detail", args=[saga.pk])).content.decode()
    trail = html[html.index('id="trail"') :]
    row = re.search(r'<tr data-action="skip_step">(.*?)</tr>', trail, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    assert cells[1:5] == ["repairer", "skip step", "ship", "shipped by hand"]
    data = client.get(reverse("django_saga:api-detail", args=[saga.pk])).json()
    assert [(e["action"], e["by"], e["step"], e["reason"]) for e in data["interventions"]] == [
        ("skip_step", "repairer", "ship", "shipped by hand")
    ]
    assert {s["name"]: s["pivot"] for s in data["steps"]} == {
        "reserve": False,
        "capture": True,
        "ship": False,
        "notify": False,
    }
    assert {s["name"]: s["status"] for s in data["steps"]}["ship"] == "completed"


@pytest.mark.django_db
def test_the_api_retries_a_step_by_name_or_id_with_its_own_input_by_default(repairer):
    saga = halted_saga()
    client = logged_in(repairer)
    response = post_json(client, api("retry", saga, step_of(saga, "ship").pk), {"reason": "go"})
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "started"
    assert {s["name"]: s["status"] for s in body["steps"]}["ship"] == "started"
    assert step_of(saga, "ship").input == {"parcel": "p-1"}
    assert body["interventions"][0]["reason"] == "go"
    # By name, once it failed again: with new input this time.
    SagaStep.objects.filter(saga=saga, name="ship").update(status="failed")
    Saga.objects.filter(pk=saga.pk).update(state="halted")
    again = post_json(client, api("retry", saga, "ship"), {"reason": "go", "input": {"ok": True}})
    assert again.status_code == 202
    assert step_of(saga, "ship").input == {"ok": True}
    assert LogEntry.objects.filter(object_id=saga.pk, user=repairer).count() == 2


@pytest.mark.django_db
def test_the_api_records_the_reason_of_a_compensation(repairer):
    saga = build_saga("failed")
    response = post_json(
        logged_in(repairer),
        reverse("django_saga:api-compensate", args=[saga.pk]),
        {"reason": "customer cancelled"},
    )
    assert response.status_code == 202 and response.json()["state"] == "compensating"
    entry = Intervention.objects.get(saga=saga)
    assert (entry.action, entry.actor, entry.reason) == (
        "compensate",
        "repairer",
        "customer cancelled",
    )


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


@pytest.mark.django_db(transaction=True)
def test_an_operator_skips_a_halted_step_through_the_api(repairer, run_engine):
    run_engine()
    saga = manager.start("order", [*shop(), Step("notify", "test.record")])
    assert wait_terminal(saga.id).state == "halted"
    response = post_json(
        logged_in(repairer),
        api("skip", saga, "ship"),
        {"reason": "shipped by hand", "output": {"tracking": "T-9"}},
    )
    assert response.status_code == 202
    finished = wait_terminal(saga.id)
    assert finished.state == "completed"
    assert finished.step("ship").output == {"tracking": "T-9"}
    assert Ledger.objects.filter(step_id=finished.step("notify").id, action="do:notify").exists()
    assert not Ledger.objects.filter(step_id=finished.step("ship").id).exists()


# -- re-drive in the console -------------------------------------------------
def redrive_form(**fields: str) -> dict[str, str]:
    return {"name": "", "state": "", "error": "", "older_than": "", "rate": "2", **fields}


@pytest.mark.django_db
def test_the_dashboard_links_the_redrive_page_for_those_who_may_use_it(repairer):
    html = logged_in(repairer).get(reverse("django_saga:dashboard")).content.decode()
    assert f'id="redrive-link" href="{reverse("django_saga:redrive")}"' in html


@pytest.mark.django_db
def test_the_redrive_preview_counts_and_lists_the_sagas_and_changes_nothing(repairer):
    old = [halted_saga(updated_ago=timedelta(hours=2)) for _ in range(3)]
    recent = halted_saga()
    failed = build_saga("failed", name="refund", error="card declined")
    build_saga("completed")
    client = logged_in(repairer)

    def preview(**fields: str) -> Any:
        response = client.post(reverse("django_saga:redrive"), redrive_form(reason="r", **fields))
        assert response.status_code == 200
        return response.context["preview"]

    every = preview()
    assert every["count"].value == 5
    shown = [row.saga.pk for row in every["rows"]]
    assert shown == sorted([*(s.pk for s in old), recent.pk, failed.pk])
    assert [row.saga.pk for row in preview(state="halted", older_than="1h")["rows"]] == [
        s.pk for s in old
    ]
    assert [row.saga.pk for row in preview(error="DECLINED")["rows"]] == [failed.pk]
    assert [row.saga.pk for row in preview(name="refund")["rows"]] == [failed.pk]
    html = client.post(
        reverse("django_saga:redrive"), redrive_form(reason="r", rate="0.5")
    ).content.decode()
    assert "5 sagas match" in html
    assert "5 sagas will be sent, 0.5 a second: the last one in 8.0 s." in html
    assert not Intervention.objects.exists()
    assert Saga.objects.filter(state="halted").count() == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("reason", "", "A reason is required"),
        ("rate", "0", "rate must be above 0"),
        ("rate", "fast", "Enter a number."),
        ("older_than", "soon", "is not an age"),
        ("state", "completed", "Select a valid choice."),
    ],
)
def test_the_redrive_form_says_what_is_wrong_next_to_the_field(repairer, field, value, error):
    halted_saga()
    form = {**redrive_form(reason="r", run="1"), field: value}
    response = logged_in(repairer).post(reverse("django_saga:redrive"), form)
    assert response.status_code == 400
    assert error in field_errors(response.content.decode(), field)
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_a_redrive_sends_the_sagas_paced_then_shows_its_progress(repairer, settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_REFRESH": 3}
    sagas = [halted_saga() for _ in range(3)]
    other = build_saga("failed", name="refund")
    client = logged_in(repairer)
    response = client.post(
        reverse("django_saga:redrive"),
        redrive_form(name="order", rate="2", reason="carrier is back", run="1"),
    )
    assert response.status_code == 302
    batch = Intervention.objects.values_list("batch", flat=True).distinct().get()
    assert response["Location"] == reverse("django_saga:redrive-progress", args=[batch])
    assert {state_of(s) for s in sagas} == {"started"}
    assert state_of(other) == "failed"
    sends = OutboxMessage.objects.filter(kind="execute").order_by("available_at")
    gaps = [b.available_at - a.available_at for a, b in pairwise(sends)]
    assert [round(gap.total_seconds(), 1) for gap in gaps] == [0.5, 0.5]
    assert set(Intervention.objects.values_list("actor", "reason")) == {
        ("repairer", "carrier is back")
    }

    progress = client.get(response["Location"])
    assert shown_messages(progress)[0].startswith("Re-drive started: 3 sagas scheduled, 2 a second")
    html = progress.content.decode()
    assert re.search(r'data-state="started">\s*<div class="n">3</div>', html)
    assert '<meta http-equiv="refresh" content="3">' in html
    assert 'id="redrive-sagas">3<' in html

    Saga.objects.filter(pk__in=[s.pk for s in sagas[:2]]).update(state="completed")
    Saga.objects.filter(pk=sagas[2].pk).update(state="halted")
    Intervention.objects.update(details={"state": "halted"})
    settled = client.get(response["Location"]).content.decode()
    assert re.search(r'data-state="completed">\s*<div class="n">2</div>', settled)
    assert 'http-equiv="refresh"' not in settled
    # The saga that halted again is listed, to be looked at.
    waiting = settled[settled.index('id="waiting"') :]
    assert sagas[2].pk in waiting and sagas[0].pk not in waiting
    # Each saga's trail links the re-drive.
    detail = client.get(reverse("django_saga:detail", args=[sagas[0].pk])).content.decode()
    assert f'href="{response["Location"]}"' in detail


@pytest.mark.django_db
def test_a_redrive_says_which_sagas_it_left_alone_and_why(repairer):
    halted_saga()
    # Failed, but no step of it is: nothing a re-drive can retry.
    odd = SagaFactory(name="order", failed=True)
    SagaStepFactory(saga=odd, position=0, name="only", completed=True)
    response = logged_in(repairer).post(
        reverse("django_saga:redrive"), redrive_form(reason="r", run="1"), follow=True
    )
    said = shown_messages(response)
    assert said[0].startswith("Re-drive started: 1 saga scheduled")
    assert said[1].startswith(f"1 left alone: Saga {odd.pk} is failed with no failed step;")
    assert state_of(odd) == "failed"


@pytest.mark.django_db
def test_one_redrive_request_sends_a_bounded_number_and_says_so(repairer, monkeypatch):
    monkeypatch.setattr(redrive, "REDRIVE_AT_ONCE", 2)
    sagas = sorted((halted_saga() for _ in range(3)), key=lambda saga: saga.pk)
    client = logged_in(repairer)
    preview = client.post(reverse("django_saga:redrive"), redrive_form(reason="r"))
    assert "At most 2 are re-driven at a time" in preview.content.decode()
    assert preview.context["preview"]["sent"] == 2
    response = client.post(reverse("django_saga:redrive"), redrive_form(reason="r", run="1"))
    said = shown_messages(client.get(response["Location"]))
    assert "More sagas match than one re-drive sends (2): re-drive again for the rest." in said
    assert [state_of(s) for s in sagas] == ["started", "started", "halted"]


@pytest.mark.django_db
def test_an_unknown_redrive_is_404(repairer):
    client = logged_in(repairer)
    assert client.get(reverse("django_saga:redrive-progress", args=["NOPE"])).status_code == 404
    api_response = client.get(reverse("django_saga:api-redrive-progress", args=["NOPE"]))
    assert api_response.status_code == 404 and api_response.json()["error"] == "not_found"


# -- re-drive through the API -------------------------------------------------
@pytest.mark.django_db
def test_the_api_redrives_and_reports_progress(repairer):
    # Failed with no failed step, and the oldest: the first a re-drive picks.
    odd = SagaFactory(id="0" * 26, name="order", failed=True)
    sagas = sorted((halted_saga() for _ in range(3)), key=lambda saga: saga.pk)
    client = logged_in(repairer)
    response = post_json(
        client,
        reverse("django_saga:api-redrive"),
        {"name": "order", "rate": 4, "reason": "fixed", "limit": 3},
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["scheduled"], body["rate"], body["seconds"], body["more"]) == (2, 4.0, 0.25, True)
    assert [r["saga_id"] for r in body["refused"]] == [odd.pk]
    assert (
        "only sagas that are failed, halted or whose compensation failed can be retried"
        in (body["refused"][0]["reason"])
    )
    assert body["progress_url"] == reverse("django_saga:api-redrive-progress", args=[body["batch"]])
    assert [state_of(s) for s in sagas] == ["started", "started", "halted"]

    progress = client.get(body["progress_url"]).json()
    assert (progress["sagas"], progress["states"], progress["by"]) == (
        2,
        {"started": 2},
        "repairer",
    )
    assert progress["under_way"] is True
    Saga.objects.filter(pk__in=[s.pk for s in sagas[:2]]).update(state="completed")
    Intervention.objects.update(details={})
    later = client.get(body["progress_url"]).json()
    assert later["states"] == {"completed": 2} and later["under_way"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "rate must be a number"),
        ({"rate": 0}, "rate must be above 0"),
        ({"rate": 1, "state": "completed"}, "not 'completed'"),
        ({"rate": 1, "older_than": "soon"}, "is not an age"),
        ({"rate": 1, "limit": 0}, "limit must be a whole number from 1 to 1000"),
        ({"rate": 1, "sagas": ["X"]}, "Unknown field 'sagas'"),
    ],
)
def test_the_redrive_api_refuses_a_body_it_cannot_use(repairer, body, error):
    halted_saga()
    response = post_json(logged_in(repairer), reverse("django_saga:api-redrive"), body)
    assert response.status_code == 400
    assert error in response.json()["message"]
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_the_redrive_api_selects_by_state_and_age(repairer):
    old = halted_saga(updated_ago=timedelta(minutes=40))
    halted_saga()
    failed = build_saga("failed")
    client = logged_in(repairer)
    url = reverse("django_saga:api-redrive")
    by_age = post_json(
        client, url, {"rate": 10, "state": "halted", "older_than": "30m", "reason": "r"}
    )
    assert by_age.json()["scheduled"] == 1 and state_of(old) == "started"
    by_state = post_json(client, url, {"rate": 10, "state": ["failed"], "reason": "r"})
    assert by_state.json()["scheduled"] == 1 and state_of(failed) == "started"


@pytest.mark.django_db(transaction=True)
def test_a_redrive_takes_halted_sagas_to_completion(repairer, run_engine):
    run_engine()
    sagas = [manager.start("order", shop()) for _ in range(2)]
    for saga in sagas:
        assert wait_terminal(saga.id).state == "halted"
    # The service is fixed: the step's own input now goes through.
    SagaStep.objects.filter(name="ship").update(input={"ok": True})
    response = post_json(
        logged_in(repairer), reverse("django_saga:api-redrive"), {"rate": 20, "reason": "fixed"}
    )
    assert response.json()["scheduled"] == 2
    for saga in sagas:
        assert wait_terminal(saga.id).state == "completed"
    progress = logged_in(repairer).get(response.json()["progress_url"]).json()
    assert (progress["states"], progress["under_way"]) == ({"completed": 2}, False)
