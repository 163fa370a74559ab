"""The step-result webhook: signatures, answers, and what it changes."""

from __future__ import annotations

import json

import pytest

from django_saga.conf import saga_settings
from django_saga.models import OutboxMessage, Saga, SagaStep
from django_saga.webhook import sign, signature_matches
from tests.factories import SagaFactory, SagaStepFactory

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-tests"
URL = "/sagas/webhook/"


@pytest.fixture(autouse=True)
def secret(settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": SECRET}


@pytest.fixture
def waiting() -> SagaStep:
    """A saga whose first step completed and whose payment step waits."""
    saga = SagaFactory()
    SagaStepFactory(saga=saga, position=0, name="reserve", completed=True)
    pay = SagaStepFactory(saga=saga, position=1, name="pay", waiting=True)
    SagaStepFactory(saga=saga, position=2, name="ship")
    return pay


def post(client, payload, secret: str | None = SECRET, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {} if secret is None else {"HTTP_X_SAGA_SIGNATURE": sign(body, secret)}
    return client.post(URL, body, content_type="application/json", **headers)


def report(step: SagaStep, status: str = "completed", **extra):
    return {"saga_id": step.saga_id, "step_id": step.id, "status": status, **extra}


def test_a_signed_completion_completes_the_step_and_dispatches_the_next(client, waiting):
    response = post(client, report(waiting, output={"charge_id": "ch_1"}))
    assert response.status_code == 200
    assert response.json() == {
        "saga_id": waiting.saga_id,
        "step_id": waiting.id,
        "status": "completed",
        "recorded": True,
    }
    saga = Saga.objects.get(pk=waiting.saga_id)
    pay, ship = saga.step("pay"), saga.step("ship")
    assert pay.status == "completed"
    assert pay.output == {"ref": "ext-1", "charge_id": "ch_1"}
    assert ship.status == "started"
    assert OutboxMessage.objects.filter(body__contains=ship.id).count() == 1


def test_a_repeated_report_is_answered_and_changes_nothing(client, waiting):
    assert post(client, report(waiting, output={"n": 1})).json()["recorded"] is True
    again = post(client, report(waiting, output={"n": 2}))
    assert again.status_code == 200
    assert again.json()["recorded"] is False
    assert SagaStep.objects.get(pk=waiting.pk).output == {"ref": "ext-1", "n": 1}
    assert OutboxMessage.objects.count() == 1


def test_a_step_may_be_named_instead_of_identified(client, waiting):
    response = post(client, {"saga_id": waiting.saga_id, "step_id": "pay", "status": "completed"})
    assert response.status_code == 200
    assert SagaStep.objects.get(pk=waiting.pk).status == "completed"


def test_a_failure_report_fails_the_step_and_compensates(client, waiting):
    response = post(client, report(waiting, "failed", error="card declined"))
    assert response.status_code == 200
    saga = Saga.objects.get(pk=waiting.saga_id)
    assert saga.step("pay").status == "failed"
    assert saga.step("pay").error == "card declined"
    assert saga.state == "compensating"
    assert saga.step("reserve").status == "compensating"
    assert saga.step("ship").status == "cancelled"


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=", "sha256=" + "0" * 64, sign(b"another body", SECRET)],
    ids=["missing", "empty", "no-digest", "wrong-digest", "other-body"],
)
def test_a_missing_or_bad_signature_gets_401_and_changes_nothing(client, waiting, signature):
    body = json.dumps(report(waiting)).encode()
    headers = {} if signature is None else {"HTTP_X_SAGA_SIGNATURE": signature}
    response = client.post(URL, body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert SagaStep.objects.get(pk=waiting.pk).status == "waiting"
    assert not OutboxMessage.objects.exists()


def test_a_body_signed_with_another_secret_gets_401(client, waiting):
    assert post(client, report(waiting), secret="not-the-secret").status_code == 401
    assert SagaStep.objects.get(pk=waiting.pk).status == "waiting"


def test_while_rotating_either_secret_is_accepted(client, waiting, settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": ["new-secret", SECRET]}
    assert post(client, report(waiting), secret=SECRET).status_code == 200


def test_a_step_that_is_not_waiting_gets_409(client, waiting):
    reserve = Saga.objects.get(pk=waiting.saga_id).step("reserve")
    response = post(client, report(reserve))
    assert response.status_code == 409
    assert response.json()["error"] == "not_waiting"
    assert "'reserve'" in response.json()["message"]


def test_a_contrary_repeat_gets_409(client, waiting):
    assert post(client, report(waiting)).status_code == 200
    assert post(client, report(waiting, "failed", error="late")).status_code == 409


def test_unknown_saga_or_step_gets_404(client, waiting):
    response = post(client, {"saga_id": "01UNKNOWN", "step_id": "pay", "status": "completed"})
    assert response.status_code == 404
    response = post(client, {"saga_id": waiting.saga_id, "step_id": "nope", "status": "failed"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "body is not JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b'{"saga_id": "x", "step_id": "y", "status": "done"}', "status must be"),
        (b'{"step_id": "y", "status": "completed"}', "saga_id must be a non-empty string"),
        (b'{"saga_id": "x", "step_id": "y", "status": "completed", "output": [1]}', "output"),
        (b'{"saga_id": "x", "step_id": "y", "status": "failed", "error": 3}', "error must be"),
        (b'{"saga_id": "x", "step_id": "y", "status": "completed", "extra": 1}', "unknown"),
    ],
)
def test_a_malformed_report_gets_400_naming_the_problem(client, waiting, payload, message):
    response = post(client, None, raw=payload)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert SagaStep.objects.get(pk=waiting.pk).status == "waiting"


def test_without_a_secret_the_webhook_is_off(client, waiting, settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": ""}
    response = post(client, report(waiting), secret="")
    assert response.status_code == 503
    assert "WEBHOOK_SECRET" in response.json()["message"]
    assert SagaStep.objects.get(pk=waiting.pk).status == "waiting"


def test_only_post_is_allowed(client):
    response = client.get(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_no_csrf_token_is_needed(waiting):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert post(strict, report(waiting)).status_code == 200


def test_signature_matching_compares_every_secret():
    body = b'{"a": 1}'
    assert signature_matches(body, sign(body, "k2"), ["k1", "k2"])
    assert not signature_matches(body, sign(body, "k3"), ["k1", "k2"])
    assert not signature_matches(body, "", ["k1"])


def test_a_secret_list_with_a_non_string_is_a_bad_setting(settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": ["ok", 3]}
    assert any("WEBHOOK_SECRET" in p for p in saga_settings.validate())
