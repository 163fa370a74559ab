"""The SAGA settings (validation, system check, lazy reads) and the message protocol."""

from __future__ import annotations

import json

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_saga import MalformedMessage
from django_saga.checks import check_settings
from django_saga.conf import DEFAULTS, broker_urls, safe_url, saga_settings
from django_saga.messages import COMPENSATE, EXECUTE, VERSION, StepMessage, decode
from django_saga.stores import get_store
from django_saga.stores.django import DjangoStore
from django_saga.stores.memory import MemoryStore

# -- settings -------------------------------------------------------------------


def saga(settings, **values):
    settings.SAGA = {**settings.SAGA, **values}


def saga_errors():
    return [e for e in run_checks() if e.id and e.id.startswith("django_saga.")]


def test_the_test_settings_are_valid():
    assert saga_settings.validate() == []
    assert check_settings() == []
    assert saga_errors() == []


def test_defaults_apply_when_saga_is_absent(settings):
    del settings.SAGA
    for key, value in DEFAULTS.items():
        assert getattr(saga_settings, key) == value
    assert saga_settings.PREFETCH == 64
    assert saga_settings.STORE == "django_saga.stores.django.DjangoStore"
    assert saga_settings.validate() == []
    assert check_settings() == []


def test_unset_keys_fall_back_to_defaults(settings):
    settings.SAGA = {"BROKER_URL": "memory://x"}
    assert saga_settings.BROKER_URL == "memory://x"
    assert saga_settings.CONCURRENCY == DEFAULTS["CONCURRENCY"]
    assert saga_settings.QUEUE_TYPE == "classic"


def test_settings_are_read_lazily(settings):
    saga(settings, PREFETCH=3, AUTO_COMPENSATE=False)
    assert saga_settings.PREFETCH == 3
    assert saga_settings.AUTO_COMPENSATE is False
    saga(settings, PREFETCH=7)
    assert saga_settings.PREFETCH == 7


def test_unknown_attribute_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match=r"SAGA\['PREFTECH'\]: did you mean 'PREFETCH'\?"):
        saga_settings.PREFTECH  # noqa: B018


def test_store_setting_change_takes_effect(settings):
    saga(settings, STORE="django_saga.stores.memory.MemoryStore")
    memory = get_store()
    assert isinstance(memory, MemoryStore)
    # One instance per process, so every caller sees the same memory.
    assert get_store() is memory
    saga(settings, STORE="django_saga.stores.django.DjangoStore")
    assert isinstance(get_store(), DjangoStore)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("PREFETCH", 0, "SAGA['PREFETCH'] = 0: must be greater than zero"),
        ("PREFETCH", -2, "SAGA['PREFETCH'] = -2: must be greater than zero"),
        ("CONCURRENCY", "4", "SAGA['CONCURRENCY'] = '4': expected int, got str"),
        ("CONCURRENCY", True, "SAGA['CONCURRENCY'] = True: expected int, got bool"),
        ("RELAY_INTERVAL", 0.0, "SAGA['RELAY_INTERVAL'] = 0.0: must be greater than zero"),
        ("HEARTBEAT", -1, "SAGA['HEARTBEAT'] = -1: must not be negative"),
        ("QUEUE_TYPE", "fancy", "SAGA['QUEUE_TYPE'] = 'fancy': must be one of classic, quorum"),
        ("EXCHANGE", "", "SAGA['EXCHANGE'] = '': must not be empty"),
        ("AUTO_COMPENSATE", "yes", "SAGA['AUTO_COMPENSATE'] = 'yes': expected bool, got str"),
        (
            "WEBHOOK_TOLERANCE",
            float("nan"),
            "SAGA['WEBHOOK_TOLERANCE'] = nan: must be a number, not NaN",
        ),
        (
            "WEBHOOK_TOLERANCE",
            float("inf"),
            "SAGA['WEBHOOK_TOLERANCE'] = inf: must be a finite number of seconds",
        ),
        (
            "WEBHOOK_TOLERANCE",
            "300",
            "SAGA['WEBHOOK_TOLERANCE'] = '300': expected int or float, got str",
        ),
        (
            "BROKER_URL",
            "redis://x",
            "SAGA['BROKER_URL'] = 'redis://x': must start with amqp://, amqps:// or memory://",
        ),
    ],
)
def test_each_bad_value_is_reported_naming_the_key(settings, key, value, expected):
    saga(settings, **{key: value})
    assert saga_settings.validate() == [expected]
    errors = check_settings()
    assert [(e.id, e.msg) for e in errors] == [("django_saga.E001", expected)]
    assert errors[0].hint


SECRET_32 = "k" * 31 + "!"


@pytest.mark.parametrize(
    ("key", "value", "problem", "why"),
    [
        ("WEBHOOK_SECRET", "x", "must be at least 32 characters", "offline"),
        ("WEBHOOK_SECRET", " " * 40, "must not be only spaces", "turns it off"),
        ("WEBHOOK_SECRET", [SECRET_32, "short-old-secret"], "must be at least 32", "offline"),
        ("METRICS_TOKEN", "   ", "must hold no spaces", "header"),
        ("METRICS_TOKEN", "t0ken", "must be at least 16 characters", "guess"),
        ("METRICS_TOKEN", "a-long-token with a space", "must hold no spaces", "header"),
        ("PREFETCH", 70000, "must be at most 65,535", "16 bits"),
        ("HEARTBEAT", 65536, "must be at most 65,535", "16 bits"),
        ("MAX_JSON_BYTES", 2**63, "must be at most 67,108,864", "jsonb"),
        ("MAX_JSON_DEPTH", 100_000, "must be at most 256", "recursion"),
    ],
    ids=[
        "one-character-secret",
        "blank-secret",
        "short-secret-while-rotating",
        "blank-token",
        "short-token",
        "token-with-a-space",
        "prefetch",
        "heartbeat",
        "json-bytes",
        "json-depth",
    ],
)
def test_a_value_past_a_settings_floor_or_ceiling_is_named_with_why(
    settings, key, value, problem, why
):
    saga(settings, **{key: value})
    [message] = saga_settings.validate()
    assert message.startswith(f"SAGA[{key!r}] = ")
    assert problem in message and why in message
    assert [e.id for e in check_settings()] == ["django_saga.E001"]
    if key in ("WEBHOOK_SECRET", "METRICS_TOKEN"):
        assert "<hidden" in message
        assert "short-old-secret" not in message and "t0ken" not in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("WEBHOOK_SECRET", ""),
        ("WEBHOOK_SECRET", SECRET_32),
        ("WEBHOOK_SECRET", [SECRET_32, ""]),
        ("METRICS_TOKEN", ""),
        ("METRICS_TOKEN", "0123456789abcdef"),
        ("PREFETCH", 65535),
        ("HEARTBEAT", 0),
        ("MAX_JSON_BYTES", 64 * 1024 * 1024),
        ("MAX_JSON_DEPTH", 256),
    ],
)
def test_values_at_a_settings_floor_or_ceiling_are_accepted(settings, key, value):
    saga(settings, **{key: value})
    assert saga_settings.validate() == []


def test_a_bool_in_a_string_setting_says_a_string_is_expected(settings):
    saga(settings, EXCHANGE=True)
    assert saga_settings.validate() == ["SAGA['EXCHANGE'] = True: expected str, got bool"]


def test_a_misspelt_key_is_reported_with_the_setting_it_resembles(settings):
    saga(settings, CONCURENCY=8)
    expected = "SAGA['CONCURENCY'] is not a django-saga setting: did you mean 'CONCURRENCY'?"
    assert saga_settings.validate() == [expected]
    assert [(e.id, e.msg) for e in check_settings()] == [("django_saga.E001", expected)]


def test_a_key_in_the_wrong_case_is_pointed_to_its_setting_alone(settings):
    saga(settings, Broker_Url="memory://x")
    assert saga_settings.validate() == [
        "SAGA['Broker_Url'] is not a django-saga setting: did you mean 'BROKER_URL'?"
    ]


def test_a_key_close_to_several_settings_names_each_of_them(settings):
    saga(settings, RETRY_MAX=5)
    [problem] = saga_settings.validate()
    assert problem.startswith("SAGA['RETRY_MAX'] is not a django-saga setting: did you mean ")
    assert "'RETRY_MAX_ATTEMPTS'" in problem and "'RETRY_MAX_DELAY'" in problem
    assert "'CONCURRENCY'" not in problem


def test_a_key_close_to_no_setting_points_to_the_reference_not_a_list(settings):
    saga(settings, BOGUS=1)
    [problem] = saga_settings.validate()
    assert problem == (
        "SAGA['BOGUS'] is not a django-saga setting, nor close to one "
        "(the settings reference, docs/reference/settings.md, lists them all)"
    )
    assert not any(name in problem for name in DEFAULTS)


def test_a_key_that_is_no_string_is_reported_too(settings):
    settings.SAGA = {**settings.SAGA, 7: "x"}
    [problem] = saga_settings.validate()
    assert problem.startswith("SAGA[7] is not a django-saga setting, nor close to one")


def test_several_unknown_keys_are_each_named_once(settings):
    saga(settings, PREFTECH=4, HEARTBAET=30, BOGUS=1)
    problems = saga_settings.validate()
    assert sorted(problems) == [
        "SAGA['BOGUS'] is not a django-saga setting, nor close to one "
        "(the settings reference, docs/reference/settings.md, lists them all)",
        "SAGA['HEARTBAET'] is not a django-saga setting: did you mean 'HEARTBEAT'?",
        "SAGA['PREFTECH'] is not a django-saga setting: did you mean 'PREFETCH'?",
    ]
    assert [e.id for e in check_settings()] == ["django_saga.E001"] * 3


def test_every_problem_is_reported_at_once(settings):
    saga(settings, PREFETCH=0, CONCURRENCY="4", QUEUE_TYPE="fancy", BOGUS=1)
    problems = saga_settings.validate()
    assert len(problems) == 4
    for key in ("PREFETCH", "CONCURRENCY", "QUEUE_TYPE", "BOGUS"):
        assert sum(f"SAGA[{key!r}]" in p for p in problems) == 1, key


def test_saga_that_is_not_a_dict_is_reported(settings):
    settings.SAGA = ["BROKER_URL", "amqp://"]
    assert saga_settings.validate() == ["SAGA must be a dict, got list"]


@pytest.mark.parametrize("store", ["nowhere.Store", "django_saga.stores.django.Nope", "nodots"])
def test_store_that_cannot_be_imported_is_e002(settings, store):
    saga(settings, STORE=store)
    errors = check_settings()
    assert [e.id for e in errors] == ["django_saga.E002"]
    assert errors[0].msg.startswith(f"SAGA['STORE'] = {store!r} cannot be imported")
    assert "DjangoStore" in errors[0].hint


def test_the_system_check_is_registered_with_django(settings):
    saga(settings, PREFETCH=0)
    assert [e.id for e in saga_errors()] == ["django_saga.E001"]
    with pytest.raises(SystemCheckError, match=r"SAGA\['PREFETCH'\] = 0"):
        call_command("check")


CLUSTER = ["amqp://saga@mq1:5672/%2F", "amqp://saga@mq2:5672/%2F", "amqp://saga@mq3:5672/%2F"]


@pytest.mark.parametrize(
    "value",
    [CLUSTER, tuple(CLUSTER), " ".join(CLUSTER), "\n  ".join(CLUSTER)],
    ids=["list", "tuple", "spaces", "lines"],
)
def test_broker_url_may_name_the_nodes_of_a_cluster(settings, value):
    saga(settings, BROKER_URL=value)
    assert saga_settings.validate() == []
    assert broker_urls(saga_settings.BROKER_URL) == CLUSTER


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([], "must not be empty"),
        ("  ", "must not be empty"),
        (["amqp://mq1/%2F", 5672], "must hold strings only"),
        (
            ["amqp://u:secret@mq1/%2F", "redis://u:secret@mq2"],
            "must start with amqp://, amqps:// or memory:// (not 'redis://u:***@mq2')",
        ),
        (["amqp://mq1:0/%2F", "amqp://mq2/%2F"], "its port must not be 0"),
        (["memory://a", "amqp://mq2/%2F"], "cannot be listed with others"),
    ],
)
def test_a_bad_list_of_broker_urls_is_reported_without_passwords(settings, value, problem):
    saga(settings, BROKER_URL=value)
    problems = saga_settings.validate()
    assert len(problems) == 1
    assert problems[0].startswith("SAGA['BROKER_URL'] = ")
    assert problems[0].endswith(problem)
    assert "secret" not in problems[0]


def test_broker_password_with_a_password_in_any_listed_url_is_refused(settings):
    saga(settings, BROKER_URL=[CLUSTER[0], "amqp://saga:one@mq2/%2F"], BROKER_PASSWORD="two")
    assert any("give it in one place" in p for p in saga_settings.validate())


def test_safe_url_masks_each_listed_url():
    urls = ["amqp://u:p1@mq1/%2F", "amqp://mq2/%2F", "amqps://u:p3@mq3/%2F"]
    expected = "amqp://u:***@mq1/%2F amqp://mq2/%2F amqps://u:***@mq3/%2F"
    assert safe_url(urls) == expected
    assert safe_url(" ".join(urls)) == expected


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("amqp://saga:s3cr3t/pa55@mq/vhost", "amqp://***@mq/vhost"),
        ("amqp://saga:s3cr?pa55@mq/vhost", "amqp://***@mq/vhost"),
        ("amqp://saga:s3cr#pa55@mq/vhost", "amqp://***@mq/vhost"),
        ("amqps://saga:s3cr3t@pa55@mq:5671/vhost", "amqps://saga:***@mq:5671/vhost"),
        ("amqp://saga:s3cr3t pa55@mq/vhost", "amqp://saga:*** ***@mq/vhost"),
        ("amqp://saga:s3cr3t/pa55", "amqp://saga:***"),
        ("saga:s3cr3t/pa55@mq/vhost", "***@mq/vhost"),
    ],
    ids=["slash", "question-mark", "hash", "at", "space", "no-host", "no-scheme"],
)
def test_safe_url_shows_no_part_of_a_password_whatever_it_holds(url, masked):
    assert safe_url(url) == masked
    assert "s3cr" not in safe_url(url) and "pa55" not in safe_url(url)


@pytest.mark.parametrize(
    "url",
    ["amqp://saga:s3cr3t/pa55@mq/vhost", "amqp://saga:s3cr?pa55@mq/vhost"],
    ids=["slash", "question-mark"],
)
def test_a_password_that_needs_percent_encoding_is_named_not_shown(settings, url):
    saga(settings, BROKER_URL=url)
    [problem] = saga_settings.validate()
    assert problem == (
        "SAGA['BROKER_URL'] = 'amqp://***@mq/vhost': its user name or password holds "
        "/, ? or #, which end a URL's host: write them percent-encoded (%2F, %3F, %23)"
    )


def test_a_port_that_is_no_number_is_named_without_urllibs_words(settings):
    saga(settings, BROKER_URL="amqp://saga:s3cr3t@mq:pa55/vhost")
    assert saga_settings.validate() == [
        "SAGA['BROKER_URL'] = 'amqp://saga:***@mq:pa55/vhost': its port is not a number "
        "from 1 to 65535"
    ]


# -- messages -----------------------------------------------------------------


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
        (body(kind="run"), "unknown kind 'run' (expected one of execute, compensate)"),
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


def test_the_settings_reference_is_built_from_the_declaration():
    """The documentation's settings page gets its table from ``SETTINGS`` at build time."""
    from pathlib import Path

    from django_saga.conf import SETTINGS, reference_table

    root = Path(__file__).resolve().parents[2]
    page = (root / "docs/reference/settings.md").read_text()
    assert "<!-- settings-table -->" in page
    assert "reference_table" in (root / "docs/hooks.py").read_text()
    table = reference_table().splitlines()
    assert len(table) == len(SETTINGS) + 2
    for setting, row in zip(SETTINGS, table[2:], strict=True):
        assert row.startswith(f"| `{setting.name}` |") and setting.doc in row
