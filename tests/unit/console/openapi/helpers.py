"""The OpenAPI document's exchanges: a check that an answer is one the document
lists, and a request that draws each answer it lists.

The exchanges are split by door: the JSON API's are called in
``tests/unit/console/test_json_api.py``, the webhook's in
``tests/unit/test_webhook.py``; ``tests/unit/console/openapi/test_paths.py``
checks that together they call for every answer the document lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.test import Client
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from django_saga import webhook
from django_saga.console import openapi
from tests.unit.console.api_helpers import (
    OPENAPI_URL,
    SECRET,
    World,
    api,
    post_json,
    reason,
    report,
    session_post,
)
from tests.unit.console.openapi.task_exchanges import TASK_EXCHANGES

DOC = openapi.document()
URN = "urn:django-saga:openapi"
REGISTRY = Registry().with_resource(
    URN, Resource.from_contents(DOC, default_specification=DRAFT202012)
)


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


def fits(schema_name: str, value: Any) -> bool:
    """Whether ``value`` is valid against the document's schema ``schema_name``."""
    schema = {"$ref": f"{URN}#/components/schemas/{schema_name}"}
    validator = Draft202012Validator(
        schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(value)


# -- a request for each answer ------------------------------------------------------------------
LIST, DETAIL = "/api/sagas/", "/api/sagas/{saga_id}/"
COMPENSATE_PATH = "/api/sagas/{saga_id}/compensate/"
RETRY_COMP = "/api/sagas/{saga_id}/retry-compensation/"
RETRY_STEP = "/api/sagas/{saga_id}/steps/{step}/retry/"
SKIP_STEP = "/api/sagas/{saga_id}/steps/{step}/skip/"
WAKE_STEP = "/api/sagas/{saga_id}/steps/{step}/wake/"
PAUSE_SAGA, RESUME_SAGA = "/api/sagas/{saga_id}/pause/", "/api/sagas/{saga_id}/resume/"
FLOW, PAUSE_FLOW, RESUME_FLOW = "/api/flow/", "/api/flow/pause/", "/api/flow/resume/"
REDRIVE, PROGRESS = "/api/redrive/", "/api/redrive/{batch}/"
SCHEDULE_LIST, SCHEDULE = "/api/schedules/", "/api/schedules/{name}/"
PAUSE, RESUME, RUN = (f"{SCHEDULE}{act}/" for act in ("pause", "resume", "run"))
DOCUMENT, WEBHOOK = "/api/openapi.json", "/webhook/"


def _too_many_fields(world: World) -> Any:
    fields = "&".join(f"f{i}=1" for i in range(1100))
    return world.root.post(
        api(world, "failed", "compensate/"),
        fields,
        content_type="application/x-www-form-urlencoded",
    )


#: (id, path, method, status, error code or None, the call)
API_EXCHANGES: list[tuple[str, str, str, int, str | None, Callable[..., Any]]] = [
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
    # wake a sleeping step
    (
        "wake-step",
        WAKE_STEP,
        "post",
        202,
        None,
        lambda w: post_json(w.root, api(w, "sleeping", "steps/cool_off/wake/"), reason()),
    ),
    (
        "wake-step-not-sleeping",
        WAKE_STEP,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, api(w, "halted", "steps/reserve/wake/"), reason()),
    ),
    (
        "wake-step-no-reason",
        WAKE_STEP,
        "post",
        400,
        "bad_request",
        lambda w: post_json(w.root, api(w, "sleeping", "steps/cool_off/wake/"), {}),
    ),
    # pause and resume a saga
    (
        "pause-saga",
        PAUSE_SAGA,
        "post",
        202,
        None,
        lambda w: post_json(w.root, api(w, "halted", "pause/"), reason()),
    ),
    (
        "pause-saga-finished",
        PAUSE_SAGA,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, api(w, "completed", "pause/"), reason()),
    ),
    (
        "pause-saga-no-reason",
        PAUSE_SAGA,
        "post",
        400,
        "bad_request",
        lambda w: post_json(w.root, api(w, "halted", "pause/"), {}),
    ),
    (
        "resume-saga",
        RESUME_SAGA,
        "post",
        202,
        None,
        lambda w: post_json(w.root, api(w, "paused", "resume/"), reason()),
    ),
    (
        "resume-saga-not-paused",
        RESUME_SAGA,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, api(w, "halted", "resume/"), reason()),
    ),
    (
        "resume-saga-no-reason",
        RESUME_SAGA,
        "post",
        400,
        "bad_request",
        lambda w: post_json(w.root, api(w, "paused", "resume/"), {}),
    ),
    # flow control
    ("flow", FLOW, "get", 200, None, lambda w: w.root.get("/sagas/api/flow/")),
    (
        "pause-flow",
        PAUSE_FLOW,
        "post",
        201,
        None,
        lambda w: post_json(w.root, "/sagas/api/flow/pause/", {"action": "pay*", **reason()}),
    ),
    (
        "pause-flow-both",
        PAUSE_FLOW,
        "post",
        400,
        "bad_request",
        lambda w: post_json(
            w.root, "/sagas/api/flow/pause/", {"action": "a", "name": "b", **reason()}
        ),
    ),
    (
        "pause-flow-paused",
        PAUSE_FLOW,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, "/sagas/api/flow/pause/", {"name": "nightly", **reason()}),
    ),
    (
        "resume-flow",
        RESUME_FLOW,
        "post",
        200,
        None,
        lambda w: post_json(w.root, "/sagas/api/flow/resume/", {"name": "nightly", **reason()}),
    ),
    (
        "resume-flow-not-paused",
        RESUME_FLOW,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, "/sagas/api/flow/resume/", {"action": "x", **reason()}),
    ),
    (
        "resume-flow-no-reason",
        RESUME_FLOW,
        "post",
        400,
        "bad_request",
        lambda w: post_json(w.root, "/sagas/api/flow/resume/", {"name": "nightly"}),
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
    # the schedules
    ("schedules", SCHEDULE_LIST, "get", 200, None, lambda w: w.root.get(sched())),
    ("schedules-session", SCHEDULE_LIST, "get", 200, None, lambda w: w.session.get(sched())),
    (
        "schedules-viewer",
        SCHEDULE_LIST,
        "get",
        403,
        "permission_denied",
        lambda w: w.viewer.get(sched()),
    ),
    (
        "schedules-post",
        SCHEDULE_LIST,
        "get",
        405,
        "method_not_allowed",
        lambda w: w.root.post(sched()),
    ),
    ("schedule", SCHEDULE, "get", 200, None, lambda w: w.root.get(sched("nightly"))),
    ("schedule-paused", SCHEDULE, "get", 200, None, lambda w: w.root.get(sched("paused"))),
    ("schedule-no-route", SCHEDULE, "get", 404, None, lambda w: w.root.get(sched("a.b"))),
    # pause, resume and run one now
    (
        "pause",
        PAUSE,
        "post",
        200,
        None,
        lambda w: post_json(w.root, sched("nightly", "pause/"), reason()),
    ),
    (
        "pause-session",
        PAUSE,
        "post",
        200,
        None,
        lambda w: session_post(w, sched("nightly", "pause/"), reason()),
    ),
    (
        "pause-paused",
        PAUSE,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, sched("paused", "pause/"), reason()),
    ),
    (
        "pause-no-reason",
        PAUSE,
        "post",
        400,
        "bad_request",
        lambda w: post_json(w.root, sched("nightly", "pause/"), {}),
    ),
    (
        "pause-viewer",
        PAUSE,
        "post",
        403,
        "permission_denied",
        lambda w: post_json(w.viewer, sched("nightly", "pause/"), reason()),
    ),
    (
        "pause-get",
        PAUSE,
        "post",
        405,
        "method_not_allowed",
        lambda w: w.root.get(sched("nightly", "pause/")),
    ),
    (
        "resume",
        RESUME,
        "post",
        200,
        None,
        lambda w: post_json(w.root, sched("paused", "resume/"), reason()),
    ),
    (
        "resume-enabled",
        RESUME,
        "post",
        409,
        "invalid_state_transition",
        lambda w: post_json(w.root, sched("nightly", "resume/"), reason()),
    ),
    (
        "resume-unknown-field",
        RESUME,
        "post",
        400,
        "bad_request",
        lambda w: post_json(w.root, sched("paused", "resume/"), {**reason(), "when": "now"}),
    ),
    (
        "run",
        RUN,
        "post",
        202,
        None,
        lambda w: post_json(w.root, sched("nightly", "run/"), reason()),
    ),
    (
        "run-paused",
        RUN,
        "post",
        202,
        None,
        lambda w: post_json(w.root, sched("paused", "run/"), reason()),
    ),
    (
        "run-broken",
        RUN,
        "post",
        409,
        "cannot_start",
        lambda w: post_json(w.root, sched("broken", "run/"), reason()),
    ),
    (
        "run-form",
        RUN,
        "post",
        400,
        "bad_request",
        lambda w: w.root.post(sched("nightly", "run/"), {"reason": "x"}),
    ),
    # the document
    ("document", DOCUMENT, "get", 200, None, lambda w: w.viewer.get(OPENAPI_URL)),
]
#: The webhook's: (id, path, method, status, error code or None, the call)
WEBHOOK_EXCHANGES: list[tuple[str, str, str, int, str | None, Callable[..., Any]]] = [
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
WEBHOOK_WITH_SETTINGS: list[tuple[str, str, str, int, str, Callable[..., Any], dict[str, Any]]] = [
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
API_WITH_SETTINGS: list[tuple[str, str, str, int, str, Callable[..., Any], dict[str, Any]]] = []


def sched(name: str = "", tail: str = "") -> str:
    """The JSON API's address of the schedules, of one, or of an action on one."""
    return f"/sagas/api/schedules/{name}/{tail}" if name else "/sagas/api/schedules/"


def _url(world: World, path: str) -> str:
    """A URL of ``path`` that names real sagas, steps, re-drives and schedules."""
    return "/sagas" + path.format(
        saga_id=world.sagas["failed"].pk,
        step="b",
        batch=world.batch,
        name="nightly",
        task_id=world.task,
    )


API_EXCHANGES += TASK_EXCHANGES


def _call(path: str, method: str, client: Callable[[World], Client], **extra: Any) -> Callable:
    def call(world: World) -> Any:
        return getattr(client(world), method)(_url(world, path), **extra)

    return call


# What every endpoint of the API answers alike: a token it does not know, no
# credentials, a body over Django's limit, and a saga or a schedule that does
# not exist.
for _path, _operations in DOC["paths"].items():
    if _path == WEBHOOK:
        continue
    for _method in ("get", "post"):
        if _method not in _operations:
            continue
        _name = f"{_method}-{_path.strip('/').replace('/', '-')}"
        API_EXCHANGES.append(
            (
                f"{_name}-bad-token",
                _path,
                _method,
                401,
                "invalid_token",
                _call(_path, _method, lambda w: Client(), HTTP_AUTHORIZATION="Bearer nope"),
            )
        )
        API_EXCHANGES.append(
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
            API_EXCHANGES.append(
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
        if "{name}" in _path:
            API_EXCHANGES.append(
                (
                    f"{_name}-unknown-schedule",
                    _path,
                    _method,
                    404,
                    "not_found",
                    lambda w, p=_path, m=_method: getattr(w.root, m)(
                        "/sagas" + p.format(name="nowhere")
                    ),
                )
            )
        if _method == "post":
            API_WITH_SETTINGS.append(
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

#: Every exchange, of both doors.
EXCHANGES = API_EXCHANGES + WEBHOOK_EXCHANGES
WITH_SETTINGS = API_WITH_SETTINGS + WEBHOOK_WITH_SETTINGS


def check_exchange(world: World, path: str, method: str, status: int, code: Any, call) -> None:
    """One row of an exchanges table: the answer has the status and error
    code, fits what the document lists, and a refusal wrote nothing."""
    from tests.fuzz.strategies import snapshot

    before = snapshot()
    response = call(world)
    assert response.status_code == status, response.content[:300]
    body = assert_conforms(response, path, method)
    if code is not None:
        assert body["error"] == code
    if status >= 400:
        assert snapshot() == before, "a refused request wrote something"


def check_exchange_with(settings: Any, overrides: dict[str, Any], *row: Any) -> None:
    """``check_exchange`` under the settings ``overrides`` change (``SAGA``
    merged into the test's own)."""
    for name, value in overrides.items():
        setattr(settings, name, {**settings.SAGA, **value} if name == "SAGA" else value)
    check_exchange(*row)
