"""Text shown to operators as it is holds nothing that steers a terminal or a page.

Names, keys, actions and who acts refuse every control character (terminal
escapes among them) and bidirectional control, naming the field and the
character; reasons are prose and keep their tabs and line ends. Nothing is
written by a refusal.
"""

from __future__ import annotations

import json

import pytest

from django_saga import SagaDefinitionError, Skip, Step, manager
from django_saga.console import tokens
from django_saga.models import Intervention, Saga
from django_saga.webhook import signature_headers
from tests.unit.console.helpers import build_saga

pytestmark = pytest.mark.django_db

STEERING = [
    ("\x1b]0;pwned\x07", "a control character (\\x1b)"),
    ("clear\x1b[2J", "a control character (\\x1b)"),
    ("csi\x9b2J", "a control character (\\x9b)"),
    ("rtl\u202eevil", "a bidirectional control (\\u202e)"),
    ("isolate\u2066x", "a bidirectional control (\\u2066)"),
    ("two\nlines", "a control character (\\x0a)"),
]


@pytest.mark.parametrize(("text", "named"), STEERING)
@pytest.mark.parametrize(
    ("field", "start"),
    [
        ("The saga's name", lambda t: manager.start(t, [Step("a", "test.record")])),
        ("The key", lambda t: manager.start("order", [Step("a", "test.record")], key=t)),
        ("Step #1 name", lambda t: manager.start("order", [Step(t, "test.record")])),
        ("action", lambda t: manager.start("order", [Step("a", t)])),
        ("compensation", lambda t: manager.start("order", [Step("a", "test.record", t)])),
    ],
)
def test_a_saga_is_refused_a_name_key_or_action_that_steers_a_terminal(field, start, text, named):
    with pytest.raises(SagaDefinitionError) as refused:
        start(text)
    assert field in str(refused.value)
    assert f"holds {named}" in str(refused.value)
    assert not Saga.objects.exists()


@pytest.mark.parametrize(("text", "named"), STEERING)
def test_who_acts_is_refused_what_steers_a_terminal(text, named):
    saga = build_saga("failed")
    with pytest.raises(SagaDefinitionError, match=r"by \(who acts\) holds"):
        manager.compensate(saga.pk, by=text, reason="asked")
    with pytest.raises(SagaDefinitionError, match="A token's name holds"):
        tokens.create(None, text)  # type: ignore[arg-type]
    assert not Intervention.objects.exists()


def test_a_reason_keeps_its_line_ends_and_refuses_escapes():
    saga = build_saga("failed")
    with pytest.raises(SagaDefinitionError, match=r"reason holds a control character \(\\x1b\)"):
        manager.compensate(saga.pk, by="clerk", reason="see\x1b[2J")
    with pytest.raises(SagaDefinitionError, match="Skip reason holds a bidirectional"):
        Skip("not \u202eapplicable")
    manager.compensate(saga.pk, by="clerk", reason="ticket 42:\r\n\tthe customer cancelled")
    [entry] = Intervention.objects.all()
    assert entry.reason == "ticket 42:\r\n\tthe customer cancelled"


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
