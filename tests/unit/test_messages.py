"""django_saga.messages: the message protocol, encoded and decoded."""

from __future__ import annotations

import json

import pytest

from django_saga import MalformedMessage, Step, manager
from django_saga.messages import COMPENSATE, EXECUTE, VERSION, StepMessage, decode
from django_saga.models import OutboxMessage
from django_saga.processor import DEAD_LETTER, Processor
from django_saga.stores import get_store
from tests.unit.helpers import nested

_MISSING = object()


def body(**overrides) -> bytes:
    data = {"v": VERSION, "kind": EXECUTE, "saga_id": "S" * 26, "step_id": "T" * 26, "attempt": 1}
    data.update(overrides)
    for key in [k for k, v in data.items() if v is _MISSING]:
        del data[key]
    return json.dumps(data).encode()


@pytest.mark.parametrize("kind", [EXECUTE, COMPENSATE])
def test_encode_decode_round_trip(kind):
    message = StepMessage(kind, "01HZSAGA", "01HZSTEP", 3)
    encoded = message.encode()
    assert decode(encoded.encode(), 1024) == message
    assert json.loads(encoded) == {
        "v": 1,
        "kind": kind,
        "saga_id": "01HZSAGA",
        "step_id": "01HZSTEP",
        "attempt": 3,
    }


def test_a_message_holding_its_turn_of_a_rate_says_so_and_only_then():
    rated = StepMessage(EXECUTE, "01HZSAGA", "01HZSTEP", 1, rated=True)
    assert json.loads(rated.encode())["rated"] is True
    assert decode(rated.encode().encode(), 1024) == rated
    assert decode(body(rated=False), 1024).rated is False
    with pytest.raises(MalformedMessage, match="rated must be true or false, got 'yes'"):
        decode(body(rated="yes"), 1024)


def test_body_at_the_limit_is_accepted():
    raw = StepMessage(EXECUTE, "a", "b", 1).encode().encode()
    assert decode(raw, len(raw)).attempt == 1


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe\x00garbage", "body is not JSON"),
        (b"", "body is not JSON"),
        (b"[1, 2]", "body must be a JSON object, got list"),
        (b'"text"', "body must be a JSON object, got str"),
        (b"null", "body must be a JSON object, got NoneType"),
        (body(v=2), "unknown protocol version 2 (expected 1)"),
        (body(v="1"), "unknown protocol version '1' (expected 1)"),
        (body(v=_MISSING), "unknown protocol version None (expected 1)"),
        (body(kind="run"), "unknown kind 'run' (expected one of execute, compensate, settle)"),
        (body(kind=_MISSING), "unknown kind None"),
        (body(saga_id=_MISSING), "saga_id must be a non-empty id string, got None"),
        (body(step_id=_MISSING), "step_id must be a non-empty id string, got None"),
        (body(saga_id=""), "saga_id must be a non-empty id string, got ''"),
        (body(step_id=12), "step_id must be a non-empty id string, got 12"),
        (body(saga_id="x" * 65), "saga_id must be a non-empty id string"),
        (body(attempt=0), "attempt must be a positive integer, got 0"),
        (body(attempt=-1), "attempt must be a positive integer, got -1"),
        (body(attempt="1"), "attempt must be a positive integer, got '1'"),
        (body(attempt=True), "attempt must be a positive integer, got True"),
        (body(attempt=1.0), "attempt must be a positive integer, got 1.0"),
        (body(attempt=_MISSING), "attempt must be a positive integer, got None"),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "empty",
        "list",
        "string",
        "null",
        "version-2",
        "version-string",
        "version-missing",
        "unknown-kind",
        "kind-missing",
        "saga-id-missing",
        "step-id-missing",
        "saga-id-empty",
        "step-id-number",
        "saga-id-too-long",
        "attempt-0",
        "attempt-negative",
        "attempt-string",
        "attempt-true",
        "attempt-float",
        "attempt-missing",
    ],
)
def test_malformed_bodies_are_refused_saying_why(raw, why):
    with pytest.raises(MalformedMessage) as info:
        decode(raw, 64 * 1024)
    assert why in str(info.value)


def test_boolean_version_is_refused():
    with pytest.raises(MalformedMessage, match="unknown protocol version True"):
        decode(body(v=True), 64 * 1024)


def test_oversize_body_is_refused_before_parsing():
    raw = StepMessage(EXECUTE, "a", "b", 1).encode().encode()
    with pytest.raises(MalformedMessage) as info:
        decode(raw, len(raw) - 1)
    assert str(info.value) == (f"body is {len(raw)} bytes, over the {len(raw) - 1}-byte limit")
    # Not even valid JSON is read when it is too large.
    with pytest.raises(MalformedMessage, match="over the 10-byte limit"):
        decode(b"x" * 11, 10)


@pytest.mark.django_db
def test_the_outbox_body_is_compact_json_with_ids_only():
    saga = manager.start("order", [Step("a", "test.record", "", {"secret": "card-4242"})])
    body = OutboxMessage.objects.get().body
    # Messages carry references, never the step's data.
    assert "card-4242" not in body
    assert json.loads(body) == {
        "v": 1,
        "kind": "execute",
        "saga_id": saga.id,
        "step_id": saga.step("a").id,
        "attempt": 1,
    }


@pytest.mark.django_db
def test_a_message_nested_20000_deep_is_dead_lettered_as_malformed():
    body = b"[" * 20_000 + b"]" * 20_000
    result = Processor(get_store()).process(body)
    assert result.action == DEAD_LETTER
    assert "malformed message" in result.reason and "nested too deep" in result.reason


@pytest.mark.django_db
def test_a_message_with_a_deep_field_is_dead_lettered_with_a_short_reason():
    body = json.dumps(
        {"v": 1, "kind": nested(500), "saga_id": "s", "step_id": "t", "attempt": 1}
    ).encode()
    result = Processor(get_store()).process(body)
    assert result.action == DEAD_LETTER
    assert result.reason == (
        "malformed message: unknown kind a list (expected one of execute, compensate, settle)"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b'{"v": 1, "kind": "execute", "saga_id": "s\\u0000", "step_id": "t", "attempt": 1}',
        b'{"v": 1, "kind": "execute", "saga_id": "s", "step_id": "t", "attempt": 1e400}',
        b'{"v": 1, "kind": "execute", "saga_id": "s", "step_id": "t", "attempt": '
        + b"9" * 5000
        + b"}",
    ],
    ids=["nul-in-id", "float-overflow", "5000-digit-int"],
)
def test_odd_but_parseable_messages_are_dead_lettered(body):
    result = Processor(get_store()).process(body)
    assert result.action == DEAD_LETTER
    assert result.reason.startswith("malformed message")
