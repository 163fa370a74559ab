"""The step-result webhook: signatures, answers, and what it changes."""

from __future__ import annotations

import json
import math
import time

import pytest

from django_saga import StaleResult, manager
from django_saga.clock import MAX_SECONDS
from django_saga.models import OutboxMessage, Saga, SagaStep
from django_saga.webhook import sign, signature_headers, signature_matches
from tests.factories import SagaFactory, SagaStepFactory
from tests.unit.console.api_helpers import World, _unavailable, make_world
from tests.unit.console.openapi.helpers import (
    WEBHOOK,
    WEBHOOK_EXCHANGES,
    WEBHOOK_WITH_SETTINGS,
    assert_conforms,
    check_exchange,
    check_exchange_with,
)
from tests.unit.helpers import keyed_wait

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
    headers = {} if secret is None else signature_headers(body, secret)
    return client.post(URL, body, content_type="application/json", headers=headers)


def report(step: SagaStep, status: str = "completed", **extra):
    return {
        "saga_id": step.saga_id,
        "step_id": step.id,
        "attempt": step.attempts,
        "status": status,
        **extra,
    }


def test_a_signed_completion_completes_the_step_and_dispatches_the_next(client, waiting):
    response = post(client, report(waiting, output={"charge_id": "ch_1"}))
    assert response.status_code == 200
    assert response.json() == {
        "saga_id": waiting.saga_id,
        "step_id": waiting.id,
        "attempt": 1,
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
    response = post(client, {**report(waiting), "step_id": "pay"})
    assert response.status_code == 200
    assert SagaStep.objects.get(pk=waiting.pk).status == "completed"


def test_a_provider_that_knows_only_the_order_number_answers_by_key(client, waiting):
    Saga.objects.filter(pk=waiting.saga_id).update(name="order", key="order-123")
    payload = {
        "saga_name": "order",
        "key": "order-123",
        "step_id": "pay",
        "attempt": 1,
        "report_token": waiting.report_token,
        "status": "completed",
        "output": {"charge_id": "ch_1"},
    }
    response = post(client, payload)
    assert response.status_code == 200
    assert response.json()["saga_id"] == waiting.saga_id
    assert SagaStep.objects.get(pk=waiting.pk).status == "completed"
    unknown = post(client, {**payload, "key": "order-999"})
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "No saga 'order' with key 'order-999'"


def test_a_failure_report_fails_the_step_and_compensates(client, waiting):
    response = post(client, report(waiting, "failed", error="card declined"))
    assert response.status_code == 200
    saga = Saga.objects.get(pk=waiting.saga_id)
    assert saga.step("pay").status == "failed"
    assert saga.step("pay").error == "card declined"
    assert saga.state == "compensating"
    assert saga.step("reserve").status == "compensating"
    assert saga.step("ship").status == "cancelled"


NOW = str(int(time.time()))


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (NOW, None),
        (NOW, ""),
        (NOW, "sha256="),
        (NOW, "sha256=" + "0" * 64),
        (NOW, sign(b"another body", SECRET, NOW)),
        (None, "body"),
        ("", "body"),
        ("12.5", "body"),
        (NOW, "body at another time"),
    ],
    ids=[
        "missing", "empty", "no-digest", "wrong-digest", "other-body", "no-timestamp",
        "empty-timestamp", "fractional-timestamp", "timestamp-not-signed",
    ],
)  # fmt: skip
def test_a_missing_or_bad_signature_gets_401_and_changes_nothing(
    client, waiting, timestamp, signature
):
    body = json.dumps(report(waiting)).encode()
    if signature == "body":
        signature = sign(body, SECRET, timestamp or NOW)
    elif signature == "body at another time":
        signature = sign(body, SECRET, int(NOW) - 1)
    headers = {"X-Saga-Signature": signature, "X-Saga-Timestamp": timestamp}
    headers = {k: v for k, v in headers.items() if v is not None}
    response = client.post(URL, body, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert SagaStep.objects.get(pk=waiting.pk).status == "waiting"
    assert not OutboxMessage.objects.exists()


def test_a_body_signed_with_another_secret_gets_401(client, waiting):
    assert post(client, report(waiting), secret="not-the-secret").status_code == 401
    assert SagaStep.objects.get(pk=waiting.pk).status == "waiting"


def test_while_rotating_either_secret_is_accepted(client, settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": ["new-secret", SECRET]}
    saga = SagaFactory()
    first = SagaStepFactory(saga=saga, position=0, name="a", waiting=True)
    second = SagaStepFactory(saga=saga, position=1, name="b", waiting=True)
    assert post(client, report(first), secret="new-secret").json()["recorded"] is True
    assert post(client, report(second), secret=SECRET).json()["recorded"] is True
    assert post(client, report(second), secret="retired-secret").status_code == 401


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
    response = post(client, {**report(waiting), "saga_id": "01UNKNOWN"})
    assert response.status_code == 404
    response = post(client, {**report(waiting, "failed"), "step_id": "nope"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "body is not JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b'{"saga_id": "x", "step_id": "y", "attempt": 1, "status": "done"}', "status must be"),
        (b'{"step_id": "y", "status": "completed"}', "name the saga by saga_id, or by saga_name"),
        (b'{"saga_id": "x", "key": "k", "step_id": "y"}', "by saga_name and key (not both)"),
        (b'{"saga_name": "order", "step_id": "y"}', "key must be a non-empty string"),
        (b'{"saga_name": "order", "key": 7, "step_id": "y"}', "key must be a non-empty string"),
        (b'{"saga_id": "x", "step_id": "y", "status": "completed"}', "attempt must be"),
        (b'{"saga_id": "x", "step_id": "y", "attempt": "1", "status": "failed"}', "attempt"),
        (
            b'{"saga_id": "x", "step_id": "y", "attempt": 1, "status": "completed", "output": [1]}',
            "output",
        ),
        (
            b'{"saga_id": "x", "step_id": "y", "attempt": 1, "status": "failed", "error": 3}',
            "error must be",
        ),
        (
            b'{"saga_id": "x", "step_id": "y", "attempt": 1, "status": "completed", "extra": 1}',
            "unknown",
        ),
    ],
)
def test_a_malformed_report_gets_400_naming_the_problem(client, waiting, payload, message):
    response = post(client, None, raw=payload)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert SagaStep.objects.get(pk=waiting.pk).status == "waiting"


def test_a_webhook_report_by_a_key_that_steers_is_a_400(client, settings):
    secret = "webhook-secret-of-at-least-32-characters"
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": secret}
    body = json.dumps(
        {
            "saga_name": "order",
            "key": "k\x1b[2J",
            "step_id": "pay",
            "attempt": 1,
            "status": "completed",
            "report_token": "0" * 32,
        }
    ).encode()
    response = client.post(
        "/sagas/webhook/",
        body,
        content_type="application/json",
        headers=signature_headers(body, secret),
    )
    assert response.status_code == 400
    assert "holds a control character" in response.json()["message"]


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
    assert signature_matches(body, NOW, sign(body, "k2", NOW), ["k1", "k2"])
    assert not signature_matches(body, NOW, sign(body, "k3", NOW), ["k1", "k2"])
    assert not signature_matches(body, NOW, "", ["k1"])


@pytest.mark.parametrize(
    "declared",
    ["²", "١٢", "-1", "+2", " 2", "2 ", "0x10", "1e3", "1_0", "2.0", "abc"],
    ids=[
        "superscript", "arabic-indic", "negative", "plus", "leading-space", "trailing-space",
        "hex", "exponent", "underscore", "fraction", "letters",
    ],
)  # fmt: skip
def test_a_malformed_content_length_gets_400_and_the_body_is_not_read(client, waiting, declared):
    # A valid signed report: had the view read it, the step would be completed.
    body = json.dumps(report(waiting)).encode()
    response = client.post(
        URL,
        body,
        content_type="application/json",
        headers=signature_headers(body, SECRET),
        CONTENT_LENGTH=declared,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"
    assert "Content-Length" in response.json()["message"]
    assert SagaStep.objects.get(pk=waiting.pk).status == "waiting"


def test_a_content_length_of_thousands_of_digits_gets_413_not_500(client, waiting):
    body = json.dumps(report(waiting)).encode()
    response = client.post(
        URL,
        body,
        content_type="application/json",
        headers=signature_headers(body, SECRET),
        CONTENT_LENGTH="9" * 5000,
    )
    assert response.status_code == 413
    assert SagaStep.objects.get(pk=waiting.pk).status == "waiting"


# -- a report binds to one saga: the waiting step's report token -------------------------
def by_key(step: SagaStep, token: str | None = None, **extra) -> dict:
    saga = step.saga
    payload = {
        "saga_name": saga.name,
        "key": saga.key,
        "step_id": step.name,
        "attempt": step.attempts,
        "report_token": step.report_token if token is None else token,
        "status": "completed",
    }
    return {**payload, **extra}


def test_a_report_by_key_replayed_once_the_key_belongs_to_a_newer_saga_gets_409(client):
    first = keyed_wait()
    body = json.dumps(by_key(first, output={"charge_id": "ch_A"})).encode()
    headers = signature_headers(body, SECRET)
    sent = client.post(URL, body, content_type="application/json", headers=headers)
    assert sent.json()["recorded"] is True
    Saga.objects.filter(pk=first.saga_id).update(state="completed")
    newer = keyed_wait()  # the same name and key: the key is free again
    outbox = OutboxMessage.objects.count()

    # The very same request again (a provider's retry, or a captured copy).
    replayed = client.post(URL, body, content_type="application/json", headers=headers)

    assert replayed.status_code == 409
    assert replayed.json()["error"] == "token_mismatch"
    assert newer.saga_id in replayed.json()["message"]
    pay = SagaStep.objects.get(pk=newer.pk)
    assert pay.status == "waiting"
    assert pay.output == {"ref": "ext-1"}
    assert pay.history == []
    assert OutboxMessage.objects.count() == outbox
    # The newer saga's own report, with its own token, is recorded.
    own = post(client, by_key(newer, output={"charge_id": "ch_B"}))
    assert own.json() == {
        "saga_id": newer.saga_id,
        "step_id": "pay",
        "attempt": 1,
        "status": "completed",
        "recorded": True,
    }
    assert SagaStep.objects.get(pk=newer.pk).output == {"ref": "ext-1", "charge_id": "ch_B"}


def test_a_report_by_key_must_carry_the_report_token(client):
    pay = keyed_wait()
    payload = by_key(pay)
    del payload["report_token"]
    for body in (payload, {**payload, "report_token": ""}, {**payload, "report_token": 7}):
        response = post(client, body)
        assert response.status_code == 400
        assert "report_token" in response.json()["message"]
        assert "saga_name and key must carry it" in response.json()["message"]
    assert SagaStep.objects.get(pk=pay.pk).status == "waiting"


def test_a_report_by_id_may_carry_the_token_and_a_wrong_one_gets_409(client):
    earlier, pay = keyed_wait(key="order-1"), keyed_wait(key="order-2")
    wrong = post(client, report(pay, report_token=earlier.report_token))
    assert wrong.status_code == 409
    assert wrong.json()["error"] == "token_mismatch"
    assert SagaStep.objects.get(pk=pay.pk).status == "waiting"
    right = post(client, report(pay, report_token=pay.report_token))
    assert right.json()["recorded"] is True
    # Repeating it, token and all, is answered as a repeat.
    again = post(client, report(pay, report_token=pay.report_token))
    assert again.status_code == 200
    assert again.json()["recorded"] is False


def test_a_token_answers_one_attempt_only(client):
    pay = keyed_wait()
    first_token = pay.report_token
    SagaStep.objects.filter(pk=pay.pk).update(attempts=2)
    pay.refresh_from_db()
    assert pay.report_token != first_token
    response = post(client, by_key(pay, token=first_token))  # attempt 2, attempt 1's token
    assert response.status_code == 409
    assert response.json()["error"] == "token_mismatch"
    assert "attempt 2" in response.json()["message"]
    assert post(client, by_key(pay)).json()["recorded"] is True


def test_tokens_survive_a_secret_key_rotation_while_the_old_key_is_a_fallback(client, settings):
    settings.SECRET_KEY = "the-old-secret-key-" + "x" * 40
    first, second = keyed_wait(key="order-1"), keyed_wait(key="order-2")
    tokens = first.report_token, second.report_token
    settings.SECRET_KEY = "the-new-secret-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = ["the-old-secret-key-" + "x" * 40]
    assert post(client, by_key(first, token=tokens[0])).json()["recorded"] is True
    settings.SECRET_KEY_FALLBACKS = []
    response = post(client, by_key(second, token=tokens[1]))
    assert response.status_code == 409
    assert SagaStep.objects.get(pk=second.pk).status == "waiting"


# -- each answer one the OpenAPI document lists ---------------------------------------------
@pytest.fixture
def world(django_user_model, settings) -> World:
    return make_world(django_user_model, settings)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "status", "code", "call"),
    [pytest.param(*row[1:], id=row[0]) for row in WEBHOOK_EXCHANGES],
)
def test_each_answer_is_one_the_document_lists(world, path, method, status, code, call):
    check_exchange(world, path, method, status, code, call)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "status", "code", "call", "overrides"),
    [pytest.param(*row[1:], id=row[0]) for row in WEBHOOK_WITH_SETTINGS],
)
def test_each_answer_a_setting_brings_is_one_the_document_lists(
    world, settings, path, method, status, code, call, overrides
):
    check_exchange_with(settings, overrides, world, path, method, status, code, call)


@pytest.mark.django_db
def test_a_database_that_is_down_is_answered_503_as_documented(world, monkeypatch):
    response = _unavailable(world, monkeypatch)
    assert response.status_code == 503
    assert assert_conforms(response, WEBHOOK, "post")["error"] == "unavailable"


# -- hostile callers: misconfigured secrets, oversized and deep bodies, replayed reports -----
def send(client, payload: dict, timestamp: int | None = None, **extra):
    body = json.dumps(payload).encode()
    headers = signature_headers(body, SECRET, timestamp)
    return client.post(URL, body, content_type="application/json", headers=headers, **extra)


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
    response = client.post(URL, b"{}", content_type="application/json")
    assert response.status_code == 503
    assert response.json()["error"] == "webhook_misconfigured"
    assert "12345" not in response.content.decode()


def test_a_body_over_the_limit_is_refused_before_it_is_read(client):
    # The declared length alone decides: the test client would fail the test
    # if the view tried to read 20 MiB it was never given.
    response = client.post(
        URL, b"{}", content_type="application/json", CONTENT_LENGTH=str(20 * 1024 * 1024)
    )
    assert response.status_code == 413
    assert "WEBHOOK_MAX_BYTES" in response.json()["message"]


def test_a_real_body_over_the_limit_gets_413(client, settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_MAX_BYTES": 1024}
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    payload["output"] = {"blob": "x" * 2000}
    assert send(client, payload).status_code == 413
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"


def test_a_result_for_an_earlier_attempt_is_refused_after_a_retry(client):
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
def test_a_report_signed_too_long_ago_or_ahead_is_refused(client, skew):
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    response = send(client, payload, timestamp=int(time.time()) + skew)
    assert response.status_code == 409
    assert response.json()["error"] == "stale_timestamp"
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"
    assert send(client, payload, timestamp=int(time.time()) - 250).status_code == 200


def test_the_tolerance_is_a_setting(client, settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_TOLERANCE": 3600}
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    assert send(client, payload, timestamp=int(time.time()) - 1800).status_code == 200


@pytest.mark.parametrize(
    "tolerance",
    [math.nan, math.inf, -math.inf, "300", None, True, 0, -300, MAX_SECONDS * 2],
    ids=repr,
)
def test_a_bad_tolerance_refuses_every_report_with_503(client, settings, tolerance):
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


def test_a_deeply_nested_signed_body_gets_400_not_500(client):
    body = b"[" * 5000 + b"]" * 5000
    headers = signature_headers(body, SECRET)
    response = client.post(URL, body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert "nested too deep" in response.json()["message"]


def test_a_deep_output_in_a_signed_report_gets_400_naming_the_limit(client):
    step = retried_waiting_step()
    deep: object = 1
    for _ in range(100):
        deep = [deep]
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    response = send(client, {**payload, "output": {"deep": deep}})
    assert response.status_code == 400
    assert "MAX_JSON_DEPTH" in response.json()["message"]


def test_an_error_holding_nul_gets_400_not_a_503_for_ever(client):
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
def test_a_lone_surrogate_in_a_report_gets_400_not_a_503_for_ever(client, field):
    """JSON's \\ud800 escape decodes to a character no database stores."""
    step = retried_waiting_step()
    payload = {"saga_id": step.saga_id, "step_id": "pay", "attempt": 2, "status": "completed"}
    response = send(client, {**payload, **field})
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["message"]
    assert SagaStep.objects.get(pk=step.pk).status == "waiting"


def test_a_stale_timestamp_is_checked_after_the_signature(client):
    """An unsigned caller learns nothing about the clock: 401 first."""
    body = b"{}"
    headers = {"X-Saga-Timestamp": "1", "X-Saga-Signature": "sha256=" + "0" * 64}
    response = client.post(URL, body, content_type="application/json", headers=headers)
    assert response.status_code == 401
