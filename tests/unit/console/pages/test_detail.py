"""A saga's page: its steps, what an operator may do with it or with each step,
and the trail of what operators did to it.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from django_saga import manager
from django_saga.models import Saga, SagaStep
from tests.factories import SagaFactory, SagaStepFactory
from tests.unit.console.helpers import (
    RETRY_STEP,
    VIEW,
    build_saga,
    halted_saga,
    logged_in,
    make_user,
    state_of,
    step_page,
    urls_of,
)


@pytest.mark.django_db
def test_saga_page_shows_the_steps_in_order_with_their_details(operator):
    saga = build_saga("failed", output={"charged": 12.5})
    SagaStep.objects.filter(saga=saga, name="b").update(
        attempts=2,
        history=[
            {"kind": "execute", "attempt": 1, "outcome": "retrying", "duration_ms": 7,
             "at": timezone.now().isoformat(), "error": "RetryableError: blip", "retry_in": 0.5},
            {"kind": "execute", "attempt": 2, "outcome": "failed", "duration_ms": 9,
             "at": timezone.now().isoformat(), "error": "ValueError: b refuses"},
        ],
    )  # fmt: skip
    response = logged_in(operator).get(reverse("django_saga:detail", args=[saga.pk]))
    html = response.content.decode()
    assert html.index('id="step-a"') < html.index('id="step-b"')
    step_b = html[html.index('id="step-b"') :]
    assert 'data-status="failed"' in step_b
    assert "2 attempts" in step_b
    assert "ValueError: b refuses" in step_b
    assert "RetryableError: blip" in step_b and "0.5 s" in step_b
    # Pretty JSON: one key per line, indented.
    assert "{\n  &quot;charged&quot;: 12.5\n}" in html
    assert "{\n  &quot;step&quot;: &quot;b&quot;\n}" in step_b
    assert 'id="compensate-button"' in html
    assert "1/2 steps" in html


@pytest.mark.django_db
def test_user_data_is_shown_as_text_never_as_markup(operator):
    attack = "<script>alert('x')</script>"
    saga = build_saga("failed", name=f"order {attack}", output={"note": attack}, error=attack)
    client = logged_in(operator)
    for url in (urls_of(saga)["detail"], urls_of(saga)["dashboard"], urls_of(saga)["confirm"]):
        html = client.get(url).content.decode()
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


@pytest.mark.django_db
def test_saga_page_refreshes_itself_only_while_the_saga_is_active(operator, settings):
    client = logged_in(operator)
    refresh = '<meta http-equiv="refresh" content="5">'
    active = client.get(urls_of(build_saga("started"))["detail"]).content.decode()
    done = client.get(urls_of(build_saga("completed"))["detail"]).content.decode()
    assert refresh in active
    assert 'http-equiv="refresh"' not in done
    settings.SAGA = {**settings.SAGA, "CONSOLE_REFRESH": 0}
    again = client.get(urls_of(build_saga("started"))["detail"]).content.decode()
    assert 'http-equiv="refresh"' not in again


@pytest.mark.django_db
def test_saga_page_groups_a_parallel_stage_and_shows_skips_and_waits(operator):
    saga = SagaFactory(definition="shop.sagas.OrderSaga", version="2")
    SagaStepFactory(saga=saga, position=0, stage=0, name="create", completed=True)
    SagaStepFactory(saga=saga, position=1, stage=1, name="reserve", completed=True)
    SagaStepFactory(saga=saga, position=2, stage=1, name="validate", waiting=True)
    SagaStepFactory(
        saga=saga,
        position=3,
        stage=2,
        name="wrap",
        status="skipped",
        history=[{"kind": "execute", "attempt": 1, "outcome": "skipped", "reason": "no gift"}],
    )
    html = logged_in(operator).get(reverse("django_saga:detail", args=[saga.pk])).content.decode()
    heading = html.index("Stage 2: 2 steps in parallel")
    assert html.index('id="step-create"') < heading < html.index('id="step-reserve"')
    assert html.count("steps in parallel") == 1
    assert 'class="s-waiting in-stage"' in html and 'class="s-completed in-stage"' in html
    assert "no gift" in html[html.index('id="step-wrap"') :]
    assert "shop.sagas.OrderSaga v2" in html
    # Completed and skipped steps both count as done.
    assert "3/4 steps" in html
    data = logged_in(operator).get(urls_of(saga)["api-detail"]).json()
    assert [s["stage"] for s in data["steps"]] == [0, 1, 1, 2]
    assert (data["definition"], data["version"]) == ("shop.sagas.OrderSaga", "2")


@pytest.mark.django_db
def test_a_saga_of_many_steps_is_shown_a_page_of_steps_at_a_time(operator):
    from django_saga.console.pages import STEPS_PER_PAGE

    saga = SagaFactory(name="huge")
    # Steps 0..249; positions 95..104 are one parallel stage across the page boundary.
    SagaStep.objects.bulk_create(
        SagaStep(
            saga=saga,
            position=n,
            stage=95 if 95 <= n < 105 else n,
            name=f"s{n}",
            action="test.record",
            status="completed" if n < 120 else "pending",
        )
        for n in range(250)
    )
    client = logged_in(operator)
    url = reverse("django_saga:detail", args=[saga.pk])

    first = client.get(url).content.decode()
    assert STEPS_PER_PAGE == 100
    assert len(re.findall(r'id="step-s\d+"', first)) == 100
    assert 'id="step-s99"' in first and 'id="step-s100"' not in first
    assert "Steps 1\u2013100 of 250" in first
    assert "120/250 steps" in first  # progress counts every step, not the page's
    assert "Stage 96: 10 steps in parallel" in first

    last = client.get(url, {"steps": 3}).content.decode()
    assert len(re.findall(r'id="step-s\d+"', last)) == 50
    assert "Steps 201\u2013250 of 250" in last and 'rel="next"' not in last

    middle = client.get(url, {"steps": 2}).content.decode()
    # The rest of the stage opens the next page under the same heading.
    assert 'id="step-s100"' in middle and middle.count("Stage 96: 10 steps in parallel") == 1
    assert 'class="s-completed in-stage"' in middle


@pytest.mark.django_db
def test_the_saga_page_and_its_json_show_the_key(viewer, sagas):
    client = logged_in(viewer)
    page = client.get(reverse("django_saga:detail", args=[sagas["again"].pk])).content.decode()
    assert '<dd class="mono" id="saga-key">order-123</dd>' in page
    status = client.get(reverse("django_saga:api-detail", args=[sagas["again"].pk])).json()
    assert status["key"] == "order-123"


# -- what an operator may do ----------------------------------------------
@pytest.mark.django_db
def test_saga_page_offers_only_what_the_user_may_do_in_this_state(operator, viewer):
    failed, broken, done = (
        build_saga("failed"),
        build_saga("compensation_failed"),
        build_saga("compensated"),
    )
    as_operator = logged_in(operator)
    assert 'id="compensate-button"' in as_operator.get(urls_of(failed)["detail"]).content.decode()
    broken_html = as_operator.get(urls_of(broken)["detail"]).content.decode()
    assert 'id="retry-compensation-button"' in broken_html
    assert 'id="compensate-button"' not in broken_html
    done_html = as_operator.get(urls_of(done)["detail"]).content.decode()
    assert 'id="compensate-button"' not in done_html
    assert 'id="retry-compensation-button"' not in done_html
    viewer_html = logged_in(viewer).get(urls_of(failed)["detail"]).content.decode()
    assert 'id="compensate-button"' not in viewer_html


def card(html: str, step: str) -> str:
    """The HTML of one step's card on the saga's page."""
    start = html.index(f'id="step-{step}"')
    after = html.find('id="step-', start + 1)
    return html[start : after if after != -1 else html.index("</ol>", start)]


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


# -- the error, or the note in its place ----------------------------------
def banner(html: str) -> tuple[str, str]:
    """The saga's panel banner: ("alert", its text) for an error, ("notice", ...) for a note."""
    found = re.search(
        r'<div class="(alert|notice)" id="(?:saga-error|compensation-note)">([^<]*)</div>', html
    )
    return (found[1], found[2]) if found else ("", "")


@pytest.mark.django_db
@pytest.mark.parametrize("before", ["started", "completed"])
def test_a_compensation_an_operator_asked_for_is_a_note_not_an_error(operator, before):
    saga = build_saga(before)
    manager.compensate(saga.pk, by="alice", reason="the customer cancelled")
    client = logged_in(operator)
    kind, text = banner(client.get(urls_of(saga)["detail"]).content.decode())
    assert kind == "notice"
    assert text == (
        "Being compensated at an operator&#x27;s request, not after a failure: alice asked "
        f"while the saga was {before}. Reason: the customer cancelled"
    )
    Saga.objects.filter(pk=saga.pk).update(state="compensated", completed_at=timezone.now())
    kind, text = banner(client.get(urls_of(saga)["detail"]).content.decode())
    assert kind == "notice" and text.startswith("Compensated at an operator&#x27;s request")


@pytest.mark.django_db
def test_a_real_failure_keeps_its_red_error_whoever_compensated(operator):
    client = logged_in(operator)

    def shown(saga: Saga) -> tuple[str, str]:
        return banner(client.get(urls_of(saga)["detail"]).content.decode())

    # A step failed, then an operator compensated: the failure is the story.
    failed = build_saga("failed")
    manager.compensate(failed.pk, by="alice", reason="give up")
    assert shown(failed) == ("alert", "step &#x27;b&#x27; failed")
    # Compensated by the engine after a failure, or at a deadline: no operator asked.
    assert shown(build_saga("compensated", error="step 'b' failed: declined"))[0] == "alert"
    # Asked for cleanly, but then a compensation failed, and was retried.
    asked = build_saga("started")
    manager.compensate(asked.pk, by="alice", reason="customer cancelled")
    Saga.objects.filter(pk=asked.pk).update(
        state="compensation_failed", error="compensation of step 'a' failed: refund down"
    )
    SagaStep.objects.filter(saga=asked, name="a").update(status="compensation_failed")
    assert shown(asked) == ("alert", "compensation of step &#x27;a&#x27; failed: refund down")
    manager.retry_compensation(asked.pk, by="bob", reason="refunds are back")
    assert state_of(asked) == "compensating"
    assert shown(asked)[0] == "alert"


# -- the trail ------------------------------------------------------------
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
def test_a_sleeping_step_shows_until_when_and_offers_to_wake_it(repairer):
    saga = SagaFactory(name="reminder")
    step = SagaStepFactory(saga=saga, position=0, name="cool_off", sleeping=True)
    html = logged_in(repairer).get(reverse("django_saga:detail", args=[saga.pk])).content.decode()
    card = html[html.index('id="step-cool_off"') :]
    assert f'data-sleeping-until="{step.timeout_at.isoformat()}"' in card
    # Django's timeuntil puts a no-break space between a number and its unit.
    assert re.search(r"sleeping until [0-9-]+ [0-9:]+ UTC \((59\s+minutes|1\s+hour) left\)", card)
    assert 'data-action="wake-step"' in card
    assert reverse("django_saga:wake-step", args=[saga.pk, step.pk]) in card
