"""The operator console's views: access, dashboard, saga page, compensation, JSON."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_saga import Step, manager
from django_saga.console.paging import Tally
from django_saga.models import OutboxMessage, Saga, SagaStep
from tests.factories import SagaFactory, SagaStepFactory
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

VIEW = "django_saga.view_saga"
COMPENSATE = "django_saga.compensate_saga"
RETRY = "django_saga.retry_saga_compensation"

#: Steps (name, action, compensation, status) of a saga built directly in each state.
STEPS_FOR = {
    "started": [
        ("a", "test.record", "test.undo", "completed"),
        ("b", "test.record", "", "started"),
    ],
    "completed": [
        ("a", "test.record", "test.undo", "completed"),
        ("b", "test.record", "", "completed"),
    ],
    "failed": [("a", "test.record", "test.undo", "completed"), ("b", "test.fail", "", "failed")],
    "compensating": [
        ("a", "test.record", "test.undo", "compensating"),
        ("b", "test.fail", "", "failed"),
    ],
    "compensated": [
        ("a", "test.record", "test.undo", "compensated"),
        ("b", "test.fail", "", "failed"),
    ],
    "compensation_failed": [
        ("a", "test.record", "test.undo", "compensation_failed"),
        ("b", "test.fail", "", "failed"),
    ],
}


def build_saga(
    state: str = "failed",
    name: str = "order",
    *,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    updated_ago: timedelta | None = None,
) -> Saga:
    """A saga written straight to the tables, as the engine would have left it."""
    now = timezone.now()
    saga = Saga.objects.create(
        name=name,
        state=state,
        context={"customer": "c-1"},
        error=error if error is not None else ("step 'b' failed" if "fail" in state else ""),
        completed_at=now if state in ("completed", "compensated") else None,
    )
    for position, (step_name, action, compensation, status) in enumerate(STEPS_FOR[state]):
        ran = status not in ("pending", "started")
        SagaStep.objects.create(
            saga=saga,
            position=position,
            name=step_name,
            action=action,
            compensation=compensation,
            status=status,
            input={"step": step_name},
            output=(output or {"done": step_name}) if ran and status != "failed" else {},
            error="ValueError: b refuses" if status == "failed" else "",
            attempts=1,
            executed_at=now if ran else None,
            duration_ms=12 if ran else None,
            history=[
                {
                    "kind": "execute",
                    "attempt": 1,
                    "outcome": "failed" if status == "failed" else "completed",
                    "at": now.isoformat(),
                    "duration_ms": 12,
                    **({"error": "ValueError: b refuses"} if status == "failed" else {}),
                }
            ]
            if ran
            else [],
        )
    if updated_ago is not None:
        Saga.objects.filter(pk=saga.pk).update(
            created_at=now - updated_ago - timedelta(seconds=40), updated_at=now - updated_ago
        )
        saga.refresh_from_db()
    return saga


def make_user(django_user_model, *perms: str, staff: bool = True, name: str = "op"):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=staff)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def logged_in(user, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, VIEW, COMPENSATE, RETRY, name="operator")


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")


def urls_of(saga: Saga) -> dict[str, str]:
    return {
        "dashboard": reverse("django_saga:dashboard"),
        "detail": reverse("django_saga:detail", args=[saga.pk]),
        "confirm": reverse("django_saga:confirm-compensate", args=[saga.pk]),
        "api-list": reverse("django_saga:api-list"),
        "api-detail": reverse("django_saga:api-detail", args=[saga.pk]),
    }


def state_of(saga: Saga) -> str:
    return Saga.objects.get(pk=saga.pk).state


# -- URLs -----------------------------------------------------------------
def test_urls_are_namespaced_under_one_include():
    assert reverse("django_saga:dashboard") == "/sagas/"
    assert reverse("django_saga:detail", args=["X"]) == "/sagas/X/"
    assert reverse("django_saga:compensate", args=["X"]) == "/sagas/X/compensate/"
    assert reverse("django_saga:api-detail", args=["X"]) == "/sagas/api/sagas/X/"
    assert reverse("django_saga:api-compensate", args=["X"]) == "/sagas/api/sagas/X/compensate/"
    assert reverse("django_saga:metrics") == "/sagas/metrics/"


# -- access ---------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("page", ["dashboard", "detail", "confirm"])
def test_anonymous_users_are_sent_to_the_login_page(client, settings, page):
    settings.LOGIN_URL = "/login/"
    url = urls_of(build_saga())[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.django_db
def test_anonymous_post_to_compensate_changes_nothing(client):
    saga = build_saga("failed")
    response = client.post(reverse("django_saga:compensate", args=[saga.pk]))
    assert response.status_code == 302 and "login" in response["Location"]
    assert state_of(saga) == "failed"


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["api-list", "api-detail"])
def test_anonymous_json_requests_get_a_json_403(client, endpoint):
    response = client.get(urls_of(build_saga())[endpoint])
    assert response.status_code == 403
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["dashboard", "detail", "confirm", "api-list", "api-detail"])
def test_staff_without_the_view_permission_gets_403(django_user_model, page):
    user = make_user(django_user_model, COMPENSATE)
    response = logged_in(user).get(urls_of(build_saga())[page])
    assert response.status_code == 403


@pytest.mark.django_db
def test_a_user_without_permission_cannot_compensate_through_any_endpoint(django_user_model):
    saga = build_saga("failed")
    for user in (
        make_user(django_user_model, name="nobody"),
        make_user(django_user_model, VIEW, name="viewer"),
    ):
        client = logged_in(user)
        html = client.post(reverse("django_saga:compensate", args=[saga.pk]))
        api = client.post(reverse("django_saga:api-compensate", args=[saga.pk]))
        assert html.status_code == 403
        assert api.status_code == 403 and api.json()["error"] == "permission_denied"
    assert state_of(saga) == "failed"
    assert not OutboxMessage.objects.filter(saga=saga).exists()


@pytest.mark.django_db
def test_the_console_is_for_staff_unless_configured_otherwise(django_user_model, settings):
    user = make_user(django_user_model, VIEW, staff=False)
    client = logged_in(user)
    assert client.get(reverse("django_saga:dashboard")).status_code == 403
    settings.SAGA = {**settings.SAGA, "CONSOLE_STAFF_ONLY": False}
    assert client.get(reverse("django_saga:dashboard")).status_code == 200


@pytest.mark.django_db
def test_the_view_permission_is_configurable(django_user_model, settings):
    client = logged_in(make_user(django_user_model))
    assert client.get(reverse("django_saga:dashboard")).status_code == 403
    settings.SAGA = {**settings.SAGA, "CONSOLE_PERMISSION": ""}
    assert client.get(reverse("django_saga:dashboard")).status_code == 200
    settings.SAGA = {**settings.SAGA, "CONSOLE_PERMISSION": "django_saga.compensate_saga"}
    assert client.get(reverse("django_saga:dashboard")).status_code == 403


@pytest.mark.django_db
def test_get_on_the_compensate_endpoints_is_405(operator):
    saga = build_saga("failed")
    client = logged_in(operator)
    html = client.get(reverse("django_saga:compensate", args=[saga.pk]))
    api = client.get(reverse("django_saga:api-compensate", args=[saga.pk]))
    assert html.status_code == 405
    assert api.status_code == 405
    assert api["Allow"] == "POST"
    assert api.json()["error"] == "method_not_allowed"
    assert state_of(saga) == "failed"


@pytest.mark.django_db
def test_a_post_without_a_csrf_token_is_refused(operator, csrf_middleware):
    saga = build_saga("failed")
    client = logged_in(operator, enforce_csrf_checks=True)
    html = client.post(reverse("django_saga:compensate", args=[saga.pk]))
    api = client.post(reverse("django_saga:api-compensate", args=[saga.pk]))
    assert html.status_code == 403
    assert api.status_code == 403 and api.json()["error"] == "csrf_failed"
    assert state_of(saga) == "failed"


@pytest.mark.django_db
def test_a_post_with_the_csrf_token_of_the_confirmation_page_goes_through(
    operator, csrf_middleware
):
    saga = build_saga("failed")
    client = logged_in(operator, enforce_csrf_checks=True)
    page = client.get(reverse("django_saga:confirm-compensate", args=[saga.pk]))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token is not None
    response = client.post(
        reverse("django_saga:compensate", args=[saga.pk]),
        {"csrfmiddlewaretoken": token[1], "reason": "ticket 12"},
    )
    assert response.status_code == 302
    assert state_of(saga) == "compensating"


@pytest.mark.django_db
def test_the_json_endpoint_takes_the_csrf_token_in_a_header(operator, csrf_middleware):
    saga = build_saga("failed")
    client = logged_in(operator, enforce_csrf_checks=True)
    client.get(reverse("django_saga:confirm-compensate", args=[saga.pk]))
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("django_saga:api-compensate", args=[saga.pk]),
        {"reason": "asked by the customer"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 202
    assert state_of(saga) == "compensating"


# -- escaping -------------------------------------------------------------
@pytest.mark.django_db
def test_user_data_is_shown_as_text_never_as_markup(operator):
    attack = "<script>alert('x')</script>"
    saga = build_saga("failed", name=f"order {attack}", output={"note": attack}, error=attack)
    client = logged_in(operator)
    for url in (urls_of(saga)["detail"], urls_of(saga)["dashboard"], urls_of(saga)["confirm"]):
        html = client.get(url).content.decode()
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


# -- dashboard ------------------------------------------------------------
@pytest.mark.django_db
def test_dashboard_counts_sagas_by_state(operator):
    for state, n in (("completed", 3), ("failed", 2), ("compensated", 1)):
        for _ in range(n):
            build_saga(state)
    response = logged_in(operator).get(reverse("django_saga:dashboard"))
    counts = {row["state"]: row["count"].value for row in response.context["counts"]}
    assert all(row["count"].exact for row in response.context["counts"])
    assert counts == {
        "started": 0,
        "completed": 3,
        "failed": 2,
        "compensating": 0,
        "compensated": 1,
        "compensation_failed": 0,
        "halted": 0,
    }
    assert response.context["total"] == Tally(6)
    html = response.content.decode()
    assert re.search(r'data-state="completed">\s*<div class="n">3</div>', html)


@pytest.mark.django_db
def test_dashboard_lists_sagas_waiting_for_an_operator_and_stuck_ones(operator, settings):
    settings.SAGA = {**settings.SAGA, "STALE_AFTER": 600}
    failed = build_saga("failed")
    broken = build_saga("compensation_failed")
    build_saga("completed")
    stuck = build_saga("started", updated_ago=timedelta(minutes=30))
    moving = build_saga("started", updated_ago=timedelta(minutes=1))
    context = logged_in(operator).get(reverse("django_saga:dashboard")).context
    assert {row.saga.pk for row in context["waiting"]} == {failed.pk, broken.pk}
    assert context["waiting_count"] == Tally(2)
    assert [row.saga.pk for row in context["stuck"]] == [stuck.pk]
    assert moving.pk not in {row.saga.pk for row in context["stuck"]}
    assert context["stale_after"] == "10 min"
    assert {row.saga.pk: row.since for row in context["stuck"]} == {stuck.pk: "30\xa0minutes ago"}
    assert {row.since for row in context["waiting"]} == {"just now"}


@pytest.mark.django_db
def test_dashboard_filters_by_state_name_and_search(operator):
    a = build_saga("failed", name="order")
    b = build_saga("completed", name="order")
    c = build_saga("completed", name="refund")
    client = logged_in(operator)

    def listed(**params: str) -> set[str]:
        response = client.get(reverse("django_saga:dashboard"), params)
        return {row.saga.pk for row in response.context["sagas"]}

    assert listed() == {a.pk, b.pk, c.pk}
    assert listed(state="completed") == {b.pk, c.pk}
    assert listed(name="order") == {a.pk, b.pk}
    assert listed(state="completed", name="order") == {b.pk}
    assert listed(q=c.pk) == {c.pk}
    assert listed(q=c.pk.lower()) == {c.pk}
    assert listed(q="fun") == {c.pk}


@pytest.mark.django_db
def test_dashboard_pages_by_cursor_and_keeps_the_filters(operator, settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_PAGE_SIZE": 2}
    created = [build_saga("completed") for _ in range(5)]
    build_saga("failed")
    client = logged_in(operator)

    def page(**params: str):  # type: ignore[no-untyped-def]
        response = client.get(reverse("django_saga:dashboard"), {"state": "completed", **params})
        return [row.saga.pk for row in response.context["sagas"]], response

    newest, first = page()
    assert newest == [created[4].pk, created[3].pk]
    assert first.context["newer"] is None and first.context["older"] == created[3].pk
    html = first.content.decode()
    assert f'href="?state=completed&amp;before={created[3].pk}"' in html
    middle, second = page(before=created[3].pk)
    assert middle == [created[2].pk, created[1].pk]
    oldest, last = page(before=created[1].pk)
    # Newest first: the last page holds the oldest saga, and no link goes further.
    assert oldest == [created[0].pk]
    assert last.context["older"] is None and last.context["newer"] == created[0].pk
    back, _ = page(after=created[0].pk)
    assert back == middle
    assert second.context["newer"] == created[2].pk


@pytest.mark.django_db
def test_a_page_link_no_page_could_have_made_is_a_400(operator):
    client = logged_in(operator)
    url = reverse("django_saga:dashboard")
    assert client.get(url, {"before": "X" * 27}).status_code == 400
    assert client.get(url, {"before": "A", "after": "B"}).status_code == 400
    api = reverse("django_saga:api-list")
    refused = client.get(api, {"after": "X" * 27})
    assert refused.status_code == 400 and "'after'" in refused.json()["message"]
    assert "cursor" in client.get(api, {"page": "2"}).json()["message"]


@pytest.mark.django_db
def test_dashboard_shows_progress_and_uses_a_fixed_number_of_queries(operator):
    client = logged_in(operator)
    build_saga("failed")
    client.get(reverse("django_saga:dashboard"))  # warm the session and permission caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("django_saga:dashboard"))
        assert response.status_code == 200
        return len(captured)

    few = queries()
    for state in ("completed", "compensated", "started") * 4:
        build_saga(state)
    assert queries() == few
    html = client.get(reverse("django_saga:dashboard")).content.decode()
    assert "1/2 steps" in html and "2/2 steps" in html


# -- saga page ------------------------------------------------------------
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


@pytest.mark.django_db
def test_unknown_saga_is_404(operator):
    client = logged_in(operator)
    assert client.get(reverse("django_saga:detail", args=["NOPE"])).status_code == 404
    assert client.post(reverse("django_saga:compensate", args=["NOPE"])).status_code == 404


# -- compensation through the console --------------------------------------
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


# -- JSON -----------------------------------------------------------------
@pytest.mark.django_db
def test_status_endpoint_returns_the_saga_and_its_steps(operator):
    saga = build_saga("failed")
    data = logged_in(operator).get(urls_of(saga)["api-detail"]).json()
    assert data["saga_id"] == saga.pk
    assert data["name"] == "order"
    assert data["state"] == "failed"
    assert data["completed_at"] is None
    for key in ("created_at", "updated_at"):
        assert timezone.datetime.fromisoformat(data[key].replace("Z", "+00:00"))
    assert [(s["name"], s["action"], s["status"], s["error"]) for s in data["steps"]] == [
        ("a", "test.record", "completed", ""),
        ("b", "test.fail", "failed", "ValueError: b refuses"),
    ]
    assert set(data["steps"][0]) >= {"id", "name", "action", "status", "executed_at", "error"}
    assert data["steps"][0]["id"] == saga.steps[0].pk


@pytest.mark.django_db
def test_status_endpoint_404s_in_json(operator):
    response = logged_in(operator).get(reverse("django_saga:api-detail", args=["NOPE"]))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("&".join(f"f{i}=1" for i in range(1100)), "application/x-www-form-urlencoded", 400),
        ("--x\r\n", "multipart/form-data", 400),
        ("reason=" + "r" * 3000, "application/x-www-form-urlencoded", 413),
    ],
    ids=["too-many-fields", "multipart-without-boundary", "over-the-upload-limit"],
)
def test_a_session_post_django_cannot_read_is_refused_in_json_by_the_csrf_check(
    operator, settings, body, content_type, status
):
    """The CSRF check reads a form body for its token; what Django refuses to
    read is answered in JSON there, not with Django's HTML page."""
    if status == 413:
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2500
    saga = build_saga("failed")
    client = logged_in(operator, enforce_csrf_checks=True)
    client.get(reverse("django_saga:confirm-compensate", args=[saga.pk]))
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("django_saga:api-compensate", args=[saga.pk]),
        body,
        content_type=content_type,
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["message"]
    assert state_of(saga) == "failed"


@pytest.mark.django_db
def test_compensate_endpoint_accepts_then_refuses_with_409(operator):
    saga = build_saga("failed")
    client = logged_in(operator)
    url = reverse("django_saga:api-compensate", args=[saga.pk])
    why = {"reason": "asked by the customer"}
    unexplained = client.post(url)
    assert unexplained.status_code == 400
    assert "A reason is required" in unexplained.json()["message"]
    accepted = client.post(url, why, content_type="application/json")
    assert accepted.status_code == 202
    assert accepted.json()["state"] == "compensating"
    assert OutboxMessage.objects.filter(saga=saga, kind="compensate").count() == 1
    # Under way already: a second request is refused, and nothing more is sent.
    again = client.post(url, why, content_type="application/json")
    assert again.status_code == 409
    assert again.json()["state"] == "compensating"
    Saga.objects.filter(pk=saga.pk).update(state="compensated")
    done = client.post(url, why, content_type="application/json")
    assert done.status_code == 409
    body = done.json()
    assert body["error"] == "invalid_state_transition"
    assert body["state"] == "compensated"
    assert "already compensated" in body["message"]
    assert OutboxMessage.objects.filter(saga=saga, kind="compensate").count() == 1
    assert client.post(reverse("django_saga:api-compensate", args=["NOPE"])).status_code == 404


@pytest.mark.django_db
def test_retry_endpoint_only_for_a_failed_compensation(operator):
    client = logged_in(operator)
    failed = build_saga("failed")
    why = {"reason": "the refund service is back"}
    refused = client.post(
        reverse("django_saga:api-retry-compensation", args=[failed.pk]),
        why,
        content_type="application/json",
    )
    assert refused.status_code == 409
    assert "only a saga whose compensation failed" in refused.json()["message"]
    broken = build_saga("compensation_failed")
    accepted = client.post(
        reverse("django_saga:api-retry-compensation", args=[broken.pk]),
        why,
        content_type="application/json",
    )
    assert accepted.status_code == 202
    assert accepted.json()["state"] == "compensating"


@pytest.mark.django_db
def test_retry_endpoint_needs_its_own_permission(django_user_model):
    user = make_user(django_user_model, VIEW, COMPENSATE)
    broken = build_saga("compensation_failed")
    client = logged_in(user)
    response = client.post(reverse("django_saga:api-retry-compensation", args=[broken.pk]))
    assert response.status_code == 403
    assert (
        client.post(reverse("django_saga:retry-compensation", args=[broken.pk])).status_code == 403
    )
    assert state_of(broken) == "compensation_failed"


@pytest.mark.django_db
def test_list_endpoint_filters_and_pages(operator, settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_PAGE_SIZE": 2}
    done = [build_saga("completed") for _ in range(3)]
    failed = build_saga("failed", name="refund")
    client = logged_in(operator)
    everything = client.get(reverse("django_saga:api-list")).json()
    assert everything["count"] == 4 and everything["count_exact"] is True
    assert [r["saga_id"] for r in everything["results"]] == [failed.pk, done[2].pk]
    assert everything["previous"] is None
    older = client.get(everything["next"]).json()
    assert [r["saga_id"] for r in older["results"]] == [done[1].pk, done[0].pk]
    assert older["next"] is None
    assert client.get(older["previous"]).json()["results"] == everything["results"]
    only = client.get(reverse("django_saga:api-list"), {"state": "failed"}).json()
    assert [r["saga_id"] for r in only["results"]] == [failed.pk]
    assert only["results"][0]["steps_done"] == 1 and only["results"][0]["steps_total"] == 2
    bad = client.get(reverse("django_saga:api-list"), {"state": "nonsense"})
    assert bad.status_code == 400


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
