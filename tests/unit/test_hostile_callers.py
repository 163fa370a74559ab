"""Hostile callers: the admin, the metrics port, secrets, framing and the webhook.

Each test stands for a way someone probing the console, the webhook or the
engine's port could do harm before: delete what the engine depends on, read
metrics (and cost queries) from anywhere, find a password in a check or an
error page, frame a one-button page, or replay a captured step result.

The metrics port is tested in test_metrics.py and the broker password in
transports/amqp/test_connection.py. What is left asserts the admin, the
settings' checks, the console, the engine command and the webhook, whose
tests are laid out by module by their owners: these move there.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.debug import technical_500_response

from django_saga import StaleResult, manager
from django_saga.admin import INLINE_STEPS
from django_saga.clock import MAX_SECONDS
from django_saga.conf import saga_settings
from django_saga.models import OutboxMessage, Saga, SagaStep
from django_saga.webhook import signature_headers
from tests.factories import SagaFactory, SagaStepFactory
from tests.unit.console.helpers import COMPENSATE, VIEW, build_saga, logged_in, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "hunter2-not-for-logs"
SECRET = "webhook-secret-for-tests"
WEBHOOK = "/sagas/webhook/"


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw")


def outbox_row(saga: Saga, sent: bool) -> OutboxMessage:
    now = timezone.now()
    return OutboxMessage.objects.create(
        saga=saga, kind="execute", body="{}", available_at=now, sent_at=now if sent else None
    )


# -- finding 4: the admin keeps what the engine depends on ----------------------------
def test_an_unsent_outbox_row_cannot_be_deleted_one_by_one_or_in_bulk(superuser):
    client = logged_in(superuser)
    saga = build_saga("started")
    unsent, sent = outbox_row(saga, sent=False), outbox_row(saga, sent=True)
    delete = "admin:django_saga_outboxmessage_delete"
    assert client.get(reverse(delete, args=[unsent.pk])).status_code == 403
    assert client.post(reverse(delete, args=[unsent.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse(delete, args=[sent.pk])).status_code == 200

    changelist = reverse("admin:django_saga_outboxmessage_changelist")
    assert 'value="delete_selected"' not in client.get(changelist).content.decode()
    client.post(
        changelist, {"action": "delete_selected", "_selected_action": [unsent.pk], "post": "yes"}
    )
    assert OutboxMessage.objects.filter(pk=unsent.pk).exists()


@pytest.mark.parametrize(
    ("state", "deletable"),
    [
        ("started", False),
        ("compensating", False),
        ("failed", False),
        ("compensation_failed", False),
        ("completed", True),
        ("compensated", True),
    ],
)
def test_only_a_finished_saga_may_be_deleted_even_by_a_superuser(superuser, state, deletable):
    client = logged_in(superuser)
    saga = build_saga(state)
    url = reverse("admin:django_saga_saga_delete", args=[saga.pk])
    assert client.get(url).status_code == (200 if deletable else 403)
    client.post(url, {"post": "yes"})
    assert Saga.objects.filter(pk=saga.pk).exists() is not deletable


# -- finding 9 (admin side): a saga of 10,000 steps -----------------------------------
def test_the_change_page_of_a_10000_step_saga_lists_the_first_steps_and_links_on(superuser):
    saga = SagaFactory(name="huge")
    SagaStep.objects.bulk_create(
        SagaStep(saga=saga, position=n, stage=n, name=f"s{n}", action="test.record")
        for n in range(10_000)
    )
    response = logged_in(superuser).get(reverse("admin:django_saga_saga_change", args=[saga.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    rows = re.findall(r'id="step_set-(\d+)"', html)
    assert len(rows) == INLINE_STEPS == 50
    assert "s49" in html and "s50<" not in html
    assert f"The steps below are the first {INLINE_STEPS}" in html
    assert reverse("django_saga:detail", args=[saga.pk]) in html
    assert "0/10000" in html or "0 / 10000" in html or "0 of 10000" in html


# -- finding 5: the engine's metrics port -----------------------------------------------


def test_saga_engine_has_a_metrics_address_option():
    from django_saga.management.commands.saga_engine import Command

    parser = Command().create_parser("manage.py", "saga_engine")
    assert parser.parse_args(["--metrics-port", "9"]).metrics_address == "127.0.0.1"
    assert parser.parse_args(["--metrics-address", "0.0.0.0"]).metrics_address == "0.0.0.0"


# -- finding 6: secrets in output ---------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "secret"),
    [
        ({"BROKER_URL": f"redis://saga:{PASSWORD}@mq:6379/0"}, PASSWORD),
        ({"BROKER_URL": f"amqp://saga:{PASSWORD}@mq:not-a-port/"}, PASSWORD),
        ({"WEBHOOK_SECRET": 918273645}, "918273645"),
        ({"WEBHOOK_SECRET": PASSWORD.encode()}, PASSWORD),
        ({"WEBHOOK_SECRET": [PASSWORD, 3]}, PASSWORD),
        ({"METRICS_TOKEN": 564738291}, "564738291"),
        ({"BROKER_PASSWORD": 123987456}, "123987456"),
        ({"BROKER_URL": f"amqp://saga:{PASSWORD}/pa55@mq/vhost"}, PASSWORD),
        ({"BROKER_URL": f"amqp://saga:{PASSWORD}?x@mq/vhost"}, PASSWORD),
        ({"BROKER_URL": f"amqp://saga:{PASSWORD}#x@mq/vhost"}, PASSWORD),
        ({"BROKER_URL": ["amqp://mq1/%2F", f"amqp://saga:{PASSWORD}/x@mq2:0/"]}, PASSWORD),
    ],
    ids=[
        "url",
        "malformed-url",
        "int-secret",
        "bytes-secret",
        "list-secret",
        "token",
        "password",
        "slash-in-password",
        "question-mark-in-password",
        "hash-in-password",
        "listed-url-with-slash-in-password",
    ],
)
def test_manage_py_check_names_a_bad_setting_without_showing_a_secret(settings, overrides, secret):
    settings.SAGA = {**settings.SAGA, **overrides}
    problems = saga_settings.validate()
    assert problems, "the bad value must be reported"
    with pytest.raises(SystemCheckError) as failed:
        call_command("check")
    assert secret not in str(failed.value)
    assert secret not in " ".join(problems)


def test_a_password_in_the_url_and_in_broker_password_is_refused(settings):
    settings.SAGA = {
        **settings.SAGA,
        "BROKER_URL": "amqp://saga:one@mq/%2F",
        "BROKER_PASSWORD": "two",
    }
    assert any("give it in one place" in p for p in saga_settings.validate())


def test_with_broker_password_the_debug_page_shows_no_password(settings):
    settings.DEBUG = True
    settings.SAGA = {
        **settings.SAGA,
        "BROKER_URL": "amqp://saga@mq.internal:5672/%2F",
        "BROKER_PASSWORD": PASSWORD,
    }
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        page = technical_500_response(RequestFactory().get("/"), *sys.exc_info()).content
    html = page.decode()
    assert "amqp://saga@mq.internal:5672/%2F" in html  # the settings are on the page ...
    assert PASSWORD not in html  # ... but not the password


# -- finding 7: framing --------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        lambda saga: reverse("django_saga:dashboard"),
        lambda saga: reverse("django_saga:detail", args=[saga.pk]),
        lambda saga: reverse("django_saga:confirm-compensate", args=[saga.pk]),
        lambda saga: reverse("django_saga:api-detail", args=[saga.pk]),
    ],
    ids=["dashboard", "detail", "confirm-compensate", "json"],
)
def test_console_pages_deny_framing_without_the_projects_middleware(django_user_model, path):
    from django.conf import settings as django_settings

    assert not any("XFrameOptions" in m for m in django_settings.MIDDLEWARE)
    user = make_user(django_user_model, VIEW, COMPENSATE)
    response = logged_in(user).get(path(build_saga("failed")))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_the_example_project_has_djangos_standard_security_middleware():
    from example_project import settings as example

    for middleware in (
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ):
        assert middleware in example.MIDDLEWARE


# -- finding 8: the webhook ------------------------------------------------------------------
@pytest.fixture
def webhook_secret(settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": SECRET}


def send(client, payload: dict, timestamp: int | None = None, **extra):
    body = json.dumps(payload).encode()
    headers = signature_headers(body, SECRET, timestamp)
    return client.post(WEBHOOK, body, content_type="application/json", headers=headers, **extra)


def retried_waiting_step() -> SagaStep:
    """A step whose first attempt timed out and whose second waits for the provider."""
    return SagaStepFactory(
        saga=SagaFactory(),
        position=0,
        name="pay",
        waiting=True,
        attempts=2,
        history=[{"kind": "execute", "attempt": 1, "outcome": "retrying", "error": "timeout"}],
    )


@pytest.mark.parametrize("secret", [None, b"bytes-secret", 12345, [b"x"]], ids=repr)
def test_a_misconfigured_secret_answers_503_not_500(client, settings, secret):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": secret}
    response = client.post(WEBHOOK, b"{}", content_type="application/json")
    assert response.status_code == 503
    assert response.json()["error"] == "webhook_misconfigured"
    assert "12345" not in response.content.decode()


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, webhook_secret):
    # The declared length alone decides: the test client would fail the test
    # if the view tried to read 20 MiB it was never given.
    response = client.post(
        WEBHOOK, b"{}", content_type="application/json", CONTENT_LENGTH=str(20 * 1024 * 1024)
    )
    assert response.status_code == 413
    assert "WEBHOOK_MAX_BYTES" in response.json()["message"]


def test_a_real_body_over_the_limit_gets_413(client, webhook_secret, settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_MAX_BYTES": 1024}
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    payload["output"] = {"blob": "x" * 2000}
    assert send(client, payload).status_code == 413
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"


def test_a_result_for_an_earlier_attempt_is_refused_after_a_retry(client, webhook_secret):
    step = retried_waiting_step()
    captured = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 1, "status": "failed"}
    response = send(client, captured)
    assert response.status_code == 409
    assert response.json()["error"] == "stale_attempt"
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"
    with pytest.raises(StaleResult):
        manager.fail_step(step.saga_id, "pay", "late", attempt=1)
    answer = send(client, {**captured, "attempt": 2, "status": "completed"})
    assert answer.status_code == 200 and answer.json()["recorded"] is True


@pytest.mark.parametrize("skew", [-301, 301, -3600 * 24])
def test_a_report_signed_too_long_ago_or_ahead_is_refused(client, webhook_secret, skew):
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    response = send(client, payload, timestamp=int(time.time()) + skew)
    assert response.status_code == 409
    assert response.json()["error"] == "stale_timestamp"
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"
    assert send(client, payload, timestamp=int(time.time()) - 250).status_code == 200


def test_the_tolerance_is_a_setting(client, webhook_secret, settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_TOLERANCE": 3600}
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    assert send(client, payload, timestamp=int(time.time()) - 1800).status_code == 200


@pytest.mark.parametrize(
    "tolerance",
    [math.nan, math.inf, -math.inf, "300", None, True, 0, -300, MAX_SECONDS * 2],
    ids=repr,
)
def test_a_bad_tolerance_refuses_every_report_with_503(client, webhook_secret, settings, tolerance):
    """The timestamp check fails closed: a bad tolerance never lets an old report through."""
    settings.SAGA = {**settings.SAGA, "WEBHOOK_TOLERANCE": tolerance}
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    for timestamp in (1, None):  # signed in 1970, and just now
        response = send(client, payload, timestamp=timestamp)
        assert response.status_code == 503
        assert response.json()["error"] == "webhook_misconfigured"
        assert "SAGA['WEBHOOK_TOLERANCE']" in response.json()["message"]
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"


def test_a_deeply_nested_signed_body_gets_400_not_500(client, webhook_secret):
    body = b"[" * 5000 + b"]" * 5000
    headers = signature_headers(body, SECRET)
    response = client.post(WEBHOOK, body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert "nested too deep" in response.json()["message"]


def test_a_deep_output_in_a_signed_report_gets_400_naming_the_limit(client, webhook_secret):
    step = retried_waiting_step()
    deep: object = 1
    for _ in range(100):
        deep = [deep]
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    response = send(client, {**payload, "output": {"deep": deep}})
    assert response.status_code == 400
    assert "MAX_JSON_DEPTH" in response.json()["message"]


def test_an_error_holding_nul_gets_400_not_a_503_for_ever(client, webhook_secret):
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "failed"}
    response = send(client, {**payload, "error": "declined\x00"})
    assert response.status_code == 400
    assert "NUL" in response.json()["message"]
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"


@pytest.mark.parametrize(
    "field",
    [{"output": {"receipt": "\ud800"}}, {"status": "failed", "error": "declined \udfff"}],
    ids=["output", "error"],
)
def test_a_lone_surrogate_in_a_report_gets_400_not_a_503_for_ever(client, webhook_secret, field):
    """JSON's \\ud800 escape decodes to a character no database stores."""
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    response = send(client, {**payload, **field})
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["message"]
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"


def test_a_stale_timestamp_is_checked_after_the_signature(client, webhook_secret):
    """An unsigned caller learns nothing about the clock: 401 first."""
    body = b"{}"
    headers = {"X-Saga-Timestamp": "1", "X-Saga-Signature": "sha256=" + "0" * 64}
    response = client.post(WEBHOOK, body, content_type="application/json", headers=headers)
    assert response.status_code == 401
