"""The OpenAPI description: valid OpenAPI 3.1, served by the console, and true.

Every JSON endpoint is called here through Django's test client in its
success and its refusal cases; each answer's status, headers and body must
be what the document lists for it, and every answer the document lists is
called for at least once. The document lists exactly the JSON views that
``django_saga.urls`` routes to, and every error code the code can answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Permission
from django.db import OperationalError
from django.http import HttpResponse, JsonResponse
from django.test import Client
from django.urls import URLPattern
from jsonschema import Draft202012Validator, ValidationError
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from django_saga import actions, manager, urls, validation, webhook
from django_saga.console import metrics_view, openapi
from django_saga.console.access import ConsoleAccessMixin, JsonAccessMixin
from django_saga.errors import SagaDefinitionError
from django_saga.models import Saga, SagaStep
from tests.factories import SagaFactory, SagaStepFactory, halted_saga
from tests.fuzz.strategies import snapshot
from tests.unit.console.api_helpers import create_token
from tests.unit.test_views import COMPENSATE, RETRY, VIEW, build_saga

DOC = openapi.document()
URN = "urn:django-saga:openapi"
REGISTRY = Registry().with_resource(
    URN, Resource.from_contents(DOC, default_specification=DRAFT202012)
)
SECRET = "openapi-test-secret-of-at-least-32-characters"
ALL_PERMISSIONS = (
    VIEW,
    COMPENSATE,
    RETRY,
    "django_saga.retry_saga_step",
    "django_saga.skip_saga_step",
    "django_saga.redrive_sagas",
)


def make_user(django_user_model: Any, *perms: str, name: str, staff: bool = True) -> Any:
    """A user holding ``perms``, without a password: hashing one costs a quarter second."""
    user = django_user_model.objects.create(username=name, is_staff=staff)
    user.user_permissions.add(
        *(
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in (perm.split(".") for perm in perms)
        )
    )
    return user


# -- checking an answer against the document --------------------------------------------------
def _pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def documented_response(path: str, method: str, status: int) -> tuple[dict[str, Any], str]:
    """The response object the document gives for ``status``, and where it is."""
    if status == 405:  # not an operation of its own: one description for every path
        return DOC["components"]["responses"]["MethodNotAllowed"], _pointer(
            "components", "responses", "MethodNotAllowed"
        )
    responses = DOC["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, not documented"
    response = responses[str(status)]
    where = _pointer("paths", path, method, "responses", str(status))
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[1]
        response, where = (
            DOC["components"]["responses"][name],
            _pointer("components", "responses", name),
        )
    return response, where


def assert_conforms(response: Any, path: str, method: str) -> Any:
    """``response`` is an answer the document lists for ``method`` on ``path``:
    its status, its content type, its headers and its body. Returns the body."""
    described, where = documented_response(path, method, response.status_code)
    for header in described.get("headers", {}):
        assert response.has_header(header), f"{response.status_code} without {header}"
    content_type = response["Content-Type"].split(";")[0]
    assert content_type in described["content"], (
        f"{method.upper()} {path} answered {response.status_code} as {content_type}"
    )
    if content_type != "application/json":
        return response.content
    body = json.loads(response.content)
    schema = {"$ref": URN + "#" + quote(where + _pointer("content", content_type, "schema"), "/~")}
    Draft202012Validator(
        schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    ).validate(body)
    return body


@pytest.mark.parametrize(
    ("path", "method", "response"),
    [
        ("/api/sagas/", "get", JsonResponse({"error": "gone", "message": "x"}, status=403)),
        ("/api/sagas/", "get", JsonResponse({"error": "not_authenticated"}, status=403)),
        ("/api/sagas/", "get", JsonResponse({"error": "bad_request", "message": "x"}, status=409)),
        ("/api/sagas/", "get", JsonResponse({"count": 1, "count_exact": True}, status=200)),
        ("/api/sagas/{saga_id}/", "get", HttpResponse("<p>no</p>", status=200)),
        (
            "/api/sagas/",
            "get",
            JsonResponse({"error": "invalid_token", "message": "x"}, status=401),
        ),
    ],
    ids=["unknown-code", "no-message", "unlisted-status", "missing-fields", "html", "no-header"],
)
def test_an_answer_the_document_does_not_list_fails_the_check(path, method, response):
    """The check above is not vacuous: each of these breaks the document."""
    with pytest.raises((AssertionError, ValidationError)):
        assert_conforms(response, path, method)


# -- the document itself ---------------------------------------------------------------------
def test_the_document_is_valid_openapi_3_1():
    validate(DOC, cls=OpenAPIV31SpecValidator)
    assert DOC["openapi"].startswith("3.1.")


def _json_views() -> dict[str, tuple[type, set[str]]]:
    """The routes of ``django_saga.urls`` whose views answer JSON, as document paths."""
    found: dict[str, tuple[type, set[str]]] = {}
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = pattern.callback.view_class  # type: ignore[attr-defined]
        if issubclass(view, ConsoleAccessMixin) or view is metrics_view.MetricsView:
            continue  # an HTML page, or Prometheus's text format
        assert issubclass(view, JsonAccessMixin | webhook.StepResultWebhookView), (
            f"{pattern.pattern} routes to {view.__name__}: a JSON view must be described in "
            "django_saga/console/openapi.py (and listed here if it is not JSON)"
        )
        route = re.sub(r"<[^:>]+:([^>]+)>", r"{\1}", str(pattern.pattern))
        methods = {m for m in ("get", "post") if hasattr(view, m)}
        found["/" + route] = (view, methods)
    return found


def test_the_document_describes_exactly_the_json_views_the_urls_route_to():
    views = _json_views()
    assert set(DOC["paths"]) == set(views)
    for path, (view, methods) in views.items():
        described = {key for key in DOC["paths"][path] if key != "parameters"}
        assert described == methods, f"{path} ({view.__name__})"


def _codes_in(*modules: Any) -> set[tuple[int, str]]:
    pattern = re.compile(r'json_error\(\s*(\d{3}),\s*"([a-z_]+)"')
    found = set()
    for module in modules:
        text = Path(module.__file__).read_text()
        found |= {(int(status), code) for status, code in pattern.findall(text)}
    return found


def test_every_error_code_the_code_answers_is_in_the_document():
    from django_saga.console import access, json_api

    def listed(errors: dict[int, tuple[str, ...]]) -> set[tuple[int, str]]:
        return {(status, code) for status, codes in errors.items() for code in codes}

    assert _codes_in(json_api, access) == listed(openapi.API_ERRORS)
    assert _codes_in(webhook) == listed(openapi.WEBHOOK_ERRORS)


def test_the_webhooks_headers_and_fields_are_the_documents():
    report = DOC["components"]["schemas"]["StepReport"]
    assert set(report["properties"]) == webhook.FIELDS
    assert openapi.WEBHOOK_TIMESTAMP_HEADER == webhook.TIMESTAMP_HEADER
    assert openapi.WEBHOOK_SIGNATURE_HEADER == webhook.SIGNATURE_HEADER
    assert openapi.WEBHOOK_TOKEN_MAX_CHARS == webhook.TOKEN_MAX_CHARS
    headers = {p["name"] for p in DOC["paths"]["/webhook/"]["post"]["parameters"]}
    assert headers == {webhook.TIMESTAMP_HEADER, webhook.SIGNATURE_HEADER}


def _refuses(check: Callable[[str], object], text: str) -> bool:
    try:
        check(text)
    except SagaDefinitionError:
        return True
    return False


@pytest.mark.parametrize(
    ("pattern", "check"),
    [
        (openapi.PROSE_PATTERN, lambda text: actions.reason_text(text, required=True)),
        (
            openapi.LABEL_PATTERN,
            lambda text: validation.text(text, "key", None, plain=validation.LABEL),
        ),
    ],
    ids=["reason", "name-or-key"],
)
def test_the_documents_text_patterns_refuse_what_validation_refuses(pattern, check):
    """Each character of the Basic Multilingual Plane, alone and inside a word:
    the pattern accepts it exactly when the library does."""
    compiled = re.compile(pattern)
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # no JSON text carries a lone surrogate to the pattern
        for text in (chr(code), f"a{chr(code)}b"):
            assert (compiled.search(text) is None) == _refuses(check, text), repr(text)


# -- serving it -----------------------------------------------------------------------------
OPENAPI_URL = "/sagas/api/openapi.json"


@pytest.mark.django_db
def test_the_console_serves_the_document_with_the_projects_prefix_and_names(
    django_user_model, settings
):
    settings.SESSION_COOKIE_NAME = "ops_session"
    settings.CSRF_COOKIE_NAME = "ops_csrf"
    settings.CSRF_HEADER_NAME = "HTTP_X_OPS_CSRF"
    client = Client()
    client.force_login(make_user(django_user_model, VIEW, name="viewer"))
    response = client.get(OPENAPI_URL, SCRIPT_NAME="/shop")
    served = assert_conforms(response, "/api/openapi.json", "get")
    assert served["servers"][0]["url"] == "/shop/sagas"
    schemes = served["components"]["securitySchemes"]
    assert schemes["sessionCookie"]["name"] == "ops_session"
    assert schemes["csrfToken"]["name"] == "X-Ops-Csrf"
    assert "`ops_csrf` cookie" in served["info"]["description"]
    validate(served, cls=OpenAPIV31SpecValidator)
    # Otherwise it is the document the docs publish.
    defaults = openapi.document(server="/shop/sagas")
    assert served["paths"] == defaults["paths"]
    assert served["components"]["schemas"] == defaults["components"]["schemas"]


@pytest.mark.django_db
def test_the_served_document_names_djangos_default_cookie_and_header(django_user_model):
    client = Client()
    client.force_login(make_user(django_user_model, VIEW, name="viewer"))
    assert client.get(OPENAPI_URL).json() == openapi.document()


@pytest.mark.django_db
def test_the_document_is_for_whoever_may_view_the_console(django_user_model):
    outsider = make_user(django_user_model, name="outsider")
    refused = Client().get(OPENAPI_URL)
    assert assert_conforms(refused, "/api/openapi.json", "get")["error"] == "not_authenticated"
    denied = Client(headers={"Authorization": f"Bearer {create_token(outsider.username)}"})
    answer = denied.get(OPENAPI_URL)
    assert assert_conforms(answer, "/api/openapi.json", "get")["error"] == "permission_denied"


@pytest.mark.django_db
def test_head_answers_like_get_without_a_body_and_options_lists_the_methods(django_user_model):
    client = Client()
    client.force_login(make_user(django_user_model, VIEW, name="viewer"))
    head = client.head("/sagas/api/sagas/")
    assert (head.status_code, head.content) == (200, b"")
    options = client.options("/sagas/api/sagas/")
    assert options.status_code == 200
    assert options["Allow"] == "GET, HEAD, OPTIONS"


# -- every endpoint, its successes and its refusals ---------------------------------------------
@dataclass
class World:
    """Sagas in the states the endpoints act on, and callers of each kind."""

    root: Client  # a token of a user holding every permission
    session: Client  # that user's session, with Django's CSRF check on
    viewer: Client  # a token that may view the console, and nothing more
    anonymous: Client
    sagas: dict[str, Saga]
    batch: str
    pay: SagaStep
    token: str


@pytest.fixture
def world(django_user_model, settings) -> World:
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": SECRET}
    root = make_user(django_user_model, *ALL_PERMISSIONS, name="root")
    make_user(django_user_model, VIEW, name="viewer")
    session = Client(enforce_csrf_checks=True)
    session.force_login(root)
    redriven = halted_saga(name="redriven")
    batch = manager.redrive([redriven.pk], rate=1, by=root, reason="carrier back").batch
    waiting = SagaFactory(name="payment", key="order-7")
    pay = SagaStepFactory(saga=waiting, position=0, name="pay", waiting=True)
    sagas = {
        "halted": halted_saga(),
        "failed": build_saga("failed"),
        "compensation_failed": build_saga("compensation_failed"),
        "waiting": waiting,
    }
    token = create_token("root")
    return World(
        root=Client(headers={"Authorization": f"Bearer {token}"}),
        session=session,
        viewer=Client(headers={"Authorization": f"Bearer {create_token('viewer')}"}),
        anonymous=Client(),
        sagas=sagas,
        batch=batch,
        pay=pay,
        token=token,
    )


def api(world: World, saga: str = "", tail: str = "") -> str:
    return f"/sagas/api/sagas/{world.sagas[saga].pk}/{tail}" if saga else "/sagas/api/sagas/"


def post_json(client: Client, url: str, body: object, **extra: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def report(world: World, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    """POST a webhook report on ``pay``, signed now unless ``headers`` are given."""
    body = {
        "saga_id": world.sagas["waiting"].pk,
        "step_id": "pay",
        "attempt": 1,
        "status": "completed",
        "output": {"charge": "ch_1"},
        **fields,
    }
    raw = json.dumps({k: v for k, v in body.items() if v is not None}).encode()
    signed = webhook.signature_headers(raw, SECRET) if headers is None else headers
    return Client().post("/sagas/webhook/", raw, content_type="application/json", headers=signed)


def session_post(world: World, url: str, body: object) -> Any:
    """POST as the logged-in session, with the CSRF cookie and its header."""
    world.session.cookies["csrftoken"] = CSRF
    return post_json(world.session, url, body, HTTP_X_CSRFTOKEN=CSRF)


CSRF = "csrf" * 8


def reason(text: str = "ticket OPS-1") -> dict[str, str]:
    return {"reason": text}


LIST, DETAIL = "/api/sagas/", "/api/sagas/{saga_id}/"
COMPENSATE_PATH = "/api/sagas/{saga_id}/compensate/"
RETRY_COMP = "/api/sagas/{saga_id}/retry-compensation/"
RETRY_STEP = "/api/sagas/{saga_id}/steps/{step}/retry/"
SKIP_STEP = "/api/sagas/{saga_id}/steps/{step}/skip/"
REDRIVE, PROGRESS = "/api/redrive/", "/api/redrive/{batch}/"
DOCUMENT, WEBHOOK = "/api/openapi.json", "/webhook/"


def _too_many_fields(world: World) -> Any:
    fields = "&".join(f"f{i}=1" for i in range(1100))
    return world.root.post(
        api(world, "failed", "compensate/"),
        fields,
        content_type="application/x-www-form-urlencoded",
    )


def _unavailable(world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    def down(*args: Any, **kwargs: Any) -> bool:
        raise OperationalError("connection refused")

    monkeypatch.setattr(manager, "record_outside_result", down)
    return report(world, report_token=world.pay.report_token)


#: (id, path, method, status, error code or None, the call)
EXCHANGES: list[tuple[str, str, str, int, str | None, Callable[..., Any]]] = [
    # the list
    ("list", LIST, "get", 200, None, lambda w: w.root.get(api(w), {"state": "halted"})),
    ("list-session", LIST, "get", 200, None, lambda w: w.session.get(api(w), {"q": "order"})),
    ("list-state", LIST, "get", 400, "bad_request", lambda w: w.root.get(api(w), {"state": "x"})),
    ("list-page", LIST, "get", 400, "bad_request", lambda w: w.root.get(api(w), {"page": "2"})),
    (
        "list-cursors",
        LIST,
        "get",
        400,
        "bad_request",
        lambda w: w.root.get(api(w), {"before": "A", "after": "B"}),
    ),
    ("list-nul", LIST, "get", 400, "bad_request", lambda w: w.root.get(api(w), {"key": "\x00"})),
    ("list-post", LIST, "get", 405, "method_not_allowed", lambda w: w.root.post(api(w))),
    # one saga
    ("detail", DETAIL, "get", 200, None, lambda w: w.viewer.get(api(w, "halted"))),
    (
        "detail-unknown",
        DETAIL,
        "get",
        404,
        "not_found",
        lambda w: w.root.get("/sagas/api/sagas/01ZZZZZZZZZZZZZZZZZZZZZZZZ/"),
    ),
    (
        "detail-no-route",
        DETAIL,
        "get",
        404,
        None,
        lambda w: w.root.get("/sagas/api/sagas/" + "X" * 27 + "/"),
    ),
    # compensate
    (
        "compensate",
        COMPENSATE_PATH,
        "post",
        202,
        None,
        lambda w: post_json(w.root, api(w, "failed", "compensate/"), reason()),
    ),
    (
        "compensate-session",
        COMPENSATE_PATH,
        "post",
        202,
        None,
        lambda w: session_post(w, api(w, "failed", "compensate/"), reason()),
    ),
    (
        "compensate-no-reason",
        COMPENSATE_PATH,
        "post",
        400,
        "bad_request",
        lambda w: post_json(w.root, api(w, "failed", "compensate/"), {}),
    ),
    (
        "compensate-unknown-field",
        COMPENSATE_PATH,
        "post",
        400,
        "bad_request",
        lambda w: post_json(w.root, api(w, "failed", "compensate/"), {**reason(), "why": 1}),
    ),
    (
        "compensate-form",
        COMPENSATE_PATH,
        "post",
        400,
        "bad_request",
        lambda w: w.root.post(api(w, "failed", "compensate/"), {"reason": "x"}),
    ),
    ("compensate-too-many-fields", COMPENSATE_PATH, "post", 400, "bad_request", _too_many_fields),
    (
        "compensate-past-pivot",
        COMPENSATE_PATH,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, api(w, "halted", "compensate/"), reason()),
    ),
    (
        "compensate-no-csrf",
        COMPENSATE_PATH,
        "post",
        403,
        "csrf_failed",
        lambda w: post_json(w.session, api(w, "failed", "compensate/"), reason()),
    ),
    (
        "compensate-viewer",
        COMPENSATE_PATH,
        "post",
        403,
        "permission_denied",
        lambda w: post_json(w.viewer, api(w, "failed", "compensate/"), reason()),
    ),
    (
        "compensate-get",
        COMPENSATE_PATH,
        "post",
        405,
        "method_not_allowed",
        lambda w: w.root.get(api(w, "failed", "compensate/")),
    ),
    # retry a compensation
    (
        "retry-compensation",
        RETRY_COMP,
        "post",
        202,
        None,
        lambda w: post_json(w.root, api(w, "compensation_failed", "retry-compensation/"), reason()),
    ),
    (
        "retry-compensation-not-failed",
        RETRY_COMP,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, api(w, "failed", "retry-compensation/"), reason()),
    ),
    (
        "retry-compensation-blank",
        RETRY_COMP,
        "post",
        400,
        "bad_request",
        lambda w: post_json(
            w.root, api(w, "compensation_failed", "retry-compensation/"), reason("  ")
        ),
    ),
    # retry a step
    (
        "retry-step",
        RETRY_STEP,
        "post",
        202,
        None,
        lambda w: post_json(
            w.root, api(w, "halted", "steps/ship/retry/"), {**reason(), "input": {"ok": True}}
        ),
    ),
    (
        "retry-step-unknown",
        RETRY_STEP,
        "post",
        404,
        "not_found",
        lambda w: post_json(w.root, api(w, "halted", "steps/nope/retry/"), reason()),
    ),
    (
        "retry-step-input-list",
        RETRY_STEP,
        "post",
        400,
        "bad_request",
        lambda w: post_json(
            w.root, api(w, "halted", "steps/ship/retry/"), {**reason(), "input": []}
        ),
    ),
    (
        "retry-step-completed",
        RETRY_STEP,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, api(w, "halted", "steps/reserve/retry/"), reason()),
    ),
    # skip a step
    (
        "skip-step",
        SKIP_STEP,
        "post",
        202,
        None,
        lambda w: post_json(
            w.root, api(w, "halted", "steps/ship/skip/"), {**reason(), "output": {"by": "hand"}}
        ),
    ),
    (
        "skip-waiting-step",
        SKIP_STEP,
        "post",
        202,
        None,
        lambda w: post_json(w.root, api(w, "waiting", "steps/pay/skip/"), reason()),
    ),
    (
        "skip-step-completed",
        SKIP_STEP,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, api(w, "halted", "steps/reserve/skip/"), reason()),
    ),
    (
        "skip-step-deep",
        SKIP_STEP,
        "post",
        400,
        "bad_request",
        lambda w: w.root.post(
            api(w, "halted", "steps/ship/skip/"),
            '{"reason": "r", "output": ' + "[" * 5000 + "]" * 5000 + "}",
            content_type="application/json",
        ),
    ),
    # re-drive
    (
        "redrive",
        REDRIVE,
        "post",
        202,
        None,
        lambda w: post_json(
            w.root, "/sagas/api/redrive/", {**reason(), "rate": 2, "state": ["halted", "failed"]}
        ),
    ),
    (
        "redrive-nothing",
        REDRIVE,
        "post",
        202,
        None,
        lambda w: post_json(w.root, "/sagas/api/redrive/", {**reason(), "rate": 1, "name": "none"}),
    ),
    (
        "redrive-rate",
        REDRIVE,
        "post",
        400,
        "bad_request",
        lambda w: post_json(w.root, "/sagas/api/redrive/", {**reason(), "rate": 0}),
    ),
    (
        "redrive-viewer",
        REDRIVE,
        "post",
        403,
        "permission_denied",
        lambda w: post_json(w.viewer, "/sagas/api/redrive/", {**reason(), "rate": 1}),
    ),
    # its progress
    (
        "progress",
        PROGRESS,
        "get",
        200,
        None,
        lambda w: w.viewer.get(f"/sagas/api/redrive/{w.batch}/"),
    ),
    (
        "progress-unknown",
        PROGRESS,
        "get",
        404,
        "not_found",
        lambda w: w.root.get("/sagas/api/redrive/NOPE/"),
    ),
    # the document
    ("document", DOCUMENT, "get", 200, None, lambda w: w.viewer.get(OPENAPI_URL)),
    # the webhook
    ("report", WEBHOOK, "post", 200, None, lambda w: report(w, report_token=w.pay.report_token)),
    (
        "report-by-key",
        WEBHOOK,
        "post",
        200,
        None,
        lambda w: report(
            w, saga_id=None, saga_name="payment", key="order-7", report_token=w.pay.report_token
        ),
    ),
    (
        "report-by-key-without-token",
        WEBHOOK,
        "post",
        400,
        "malformed",
        lambda w: report(w, saga_id=None, saga_name="payment", key="order-7"),
    ),
    (
        "report-unsigned",
        WEBHOOK,
        "post",
        401,
        "bad_signature",
        lambda w: report(w, headers={}),
    ),
    ("report-unknown", WEBHOOK, "post", 404, "not_found", lambda w: report(w, saga_id="NOPE")),
    (
        "report-stale-timestamp",
        WEBHOOK,
        "post",
        409,
        "stale_timestamp",
        lambda w: Client().post(
            "/sagas/webhook/",
            b"{}",
            content_type="application/json",
            headers=webhook.signature_headers(b"{}", SECRET, timestamp=1),
        ),
    ),
    (
        "report-wrong-token",
        WEBHOOK,
        "post",
        409,
        "token_mismatch",
        lambda w: report(w, report_token="0" * 32),
    ),
    ("report-stale-attempt", WEBHOOK, "post", 409, "stale_attempt", lambda w: report(w, attempt=2)),
    (
        "report-not-waiting",
        WEBHOOK,
        "post",
        409,
        "not_waiting",
        lambda w: report(w, saga_id=w.sagas["halted"].pk, step_id="reserve"),
    ),
    (
        "report-too-large",
        WEBHOOK,
        "post",
        413,
        "too_large",
        lambda w: report(w, output={"x": "y" * 600_000}),
    ),
    (
        "report-length-not-a-number",
        WEBHOOK,
        "post",
        400,
        "malformed",
        lambda w: Client().post(
            "/sagas/webhook/", b"{}", content_type="application/json", CONTENT_LENGTH="²"
        ),
    ),
    (
        "report-get",
        WEBHOOK,
        "post",
        405,
        "method_not_allowed",
        lambda w: Client().get("/sagas/webhook/"),
    ),
]
WITH_SETTINGS: list[tuple[str, str, str, int, str, Callable[..., Any], dict[str, Any]]] = [
    (
        "report-disabled",
        WEBHOOK,
        "post",
        503,
        "webhook_disabled",
        lambda w: report(w),
        {"SAGA": {"WEBHOOK_SECRET": ""}},
    ),
    (
        "report-misconfigured",
        WEBHOOK,
        "post",
        503,
        "webhook_misconfigured",
        lambda w: report(w),
        {"SAGA": {"WEBHOOK_SECRET": SECRET, "WEBHOOK_TOLERANCE": float("nan")}},
    ),
]


def _url(world: World, path: str) -> str:
    """A URL of ``path`` that names real sagas, steps and re-drives."""
    return "/sagas" + path.format(saga_id=world.sagas["failed"].pk, step="b", batch=world.batch)


def _call(path: str, method: str, client: Callable[[World], Client], **extra: Any) -> Callable:
    def call(world: World) -> Any:
        return getattr(client(world), method)(_url(world, path), **extra)

    return call


# What every endpoint of the API answers alike: a token it does not know, no
# credentials, a body over Django's limit, and a saga that does not exist.
for _path, _operations in DOC["paths"].items():
    if _path == WEBHOOK:
        continue
    for _method in ("get", "post"):
        if _method not in _operations:
            continue
        _name = f"{_method}-{_path.strip('/').replace('/', '-')}"
        EXCHANGES.append(
            (
                f"{_name}-bad-token",
                _path,
                _method,
                401,
                "invalid_token",
                _call(_path, _method, lambda w: Client(), HTTP_AUTHORIZATION="Bearer nope"),
            )
        )
        EXCHANGES.append(
            (
                f"{_name}-anonymous",
                _path,
                _method,
                403,
                "not_authenticated",
                _call(_path, _method, lambda w: w.anonymous),
            )
        )
        if "{saga_id}" in _path:
            EXCHANGES.append(
                (
                    f"{_name}-unknown-saga",
                    _path,
                    _method,
                    404,
                    "not_found",
                    lambda w, p=_path, m=_method: getattr(w.root, m)(
                        "/sagas" + p.format(saga_id="01ZZZZZZZZZZZZZZZZZZZZZZZZ", step="b")
                    ),
                )
            )
        if _method == "post":
            WITH_SETTINGS.append(
                (
                    f"{_name}-too-large",
                    _path,
                    _method,
                    413,
                    "too_large",
                    _call(
                        _path,
                        _method,
                        lambda w: w.root,
                        data=json.dumps({**reason("r" * 300), "rate": 1}),
                        content_type="application/json",
                    ),
                    {"DATA_UPLOAD_MAX_MEMORY_SIZE": 200},
                )
            )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "status", "code", "call"),
    [pytest.param(*row[1:], id=row[0]) for row in EXCHANGES],
)
def test_each_answer_is_one_the_document_lists(world, path, method, status, code, call):
    before = snapshot()
    response = call(world)
    assert response.status_code == status, response.content[:300]
    body = assert_conforms(response, path, method)
    if code is not None:
        assert body["error"] == code
    if status >= 400:
        assert snapshot() == before, "a refused request wrote something"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "status", "code", "call", "overrides"),
    [pytest.param(*row[1:], id=row[0]) for row in WITH_SETTINGS],
)
def test_each_answer_a_setting_brings_is_one_the_document_lists(
    world, settings, path, method, status, code, call, overrides
):
    for name, value in overrides.items():
        setattr(settings, name, {**settings.SAGA, **value} if name == "SAGA" else value)
    before = snapshot()
    response = call(world)
    assert response.status_code == status, response.content[:300]
    assert assert_conforms(response, path, method)["error"] == code
    assert snapshot() == before, "a refused request wrote something"


@pytest.mark.django_db
def test_a_database_that_is_down_is_answered_503_as_documented(world, monkeypatch):
    response = _unavailable(world, monkeypatch)
    assert response.status_code == 503
    assert assert_conforms(response, WEBHOOK, "post")["error"] == "unavailable"


def test_every_answer_the_document_lists_is_called_for_above():
    called = {(path, method, status) for _, path, method, status, *_ in EXCHANGES + WITH_SETTINGS}
    called.add((WEBHOOK, "post", 503))
    listed = {
        (path, method, int(status))
        for path, operations in DOC["paths"].items()
        for method, operation in operations.items()
        if method != "parameters"
        for status in operation["responses"]
    }
    # A 405 is described once for every path (components.responses.MethodNotAllowed).
    assert listed == {entry for entry in called if entry[2] != 405}


# -- the answers Django used to give in HTML (fixed in json_api.json_body) -----------------------
@pytest.mark.django_db
def test_a_body_over_djangos_upload_limit_is_refused_413_in_json(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = Saga.objects.get(pk=world.sagas["failed"].pk).state
    response = post_json(world.root, api(world, "failed", "compensate/"), reason("r" * 1500))
    assert response.status_code == 413
    assert response.json() == {
        "error": "too_large",
        "message": "The body is over the limit of 1000 bytes (DATA_UPLOAD_MAX_MEMORY_SIZE).",
    }
    assert Saga.objects.get(pk=world.sagas["failed"].pk).state == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("&".join(f"f{i}=1" for i in range(1100)), "application/x-www-form-urlencoded"),
        ("--x\r\n", "multipart/form-data"),  # no boundary
    ],
    ids=["too-many-fields", "multipart-without-boundary"],
)
def test_a_form_django_cannot_read_is_refused_400_in_json(world, body, content_type):
    response = world.root.post(api(world, "failed", "compensate/"), body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert "not a form" in response.json()["message"]
