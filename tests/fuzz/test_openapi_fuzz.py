"""The JSON API and the webhook driven by Schemathesis from their OpenAPI description.

Each example is a request Schemathesis draws from the document (well-formed,
or breaking it on purpose), sent through Django's WSGI handler in this
process, as a superuser's token or session, a viewer, or whatever
credentials Schemathesis made up. Most name one of a few sagas in states
operators meet; the rest name what Schemathesis drew. The answer is never a
5xx, its status, headers and body are those the document lists, data the
document calls invalid is refused and data it calls valid is not (except by
a state, a missing saga or a permission), and a refusal writes nothing.
Each example runs in a savepoint rolled back after it, so every one meets
the sagas as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import event, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

from django_saga import manager
from django_saga.console import openapi
from django_saga.models import SagaStep
from django_saga.webhook import sign, signature_headers
from tests.factories import SagaFactory, SagaStepFactory, halted_saga
from tests.fuzz.strategies import EXAMPLES, SECRET, encode, snapshot
from tests.unit.console.api_helpers import create_token, make_user
from tests.unit.console.helpers import VIEW, build_saga

pytestmark = pytest.mark.django_db

BODY, COOKIE, HEADER, PATH = (
    ParameterLocation.BODY,
    ParameterLocation.COOKIE,
    ParameterLocation.HEADER,
    ParameterLocation.PATH,
)
SCHEMA = schemathesis.openapi.from_dict(openapi.document())
BASE_URL = f"http://testserver{openapi.DEFAULT_SERVER}"
#: A CSRF secret in the form Django accepts, sent as the cookie and the header.
CSRF = "fuzzcsrf" * 4
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]
#: What a valid request may still be refused for, by path: a rule OpenAPI
#: cannot state. At most one cursor; the last saga of a re-drive is sent within
#: 366 days (a rate against the number of sagas selected); an age written with
#: a unit is at most 100 years (a number against its unit).
RULES_OPENAPI_CANNOT_STATE = {
    "/api/sagas/": ("give 'before' or 'after', not both",),
    "/api/redrive/": ("over the limit of 366 days", "over the limit of 36,600 days"),
    # Which users exist, and what a project's own form accepts.
    "/api/tasks/{task_id}/delegate/": ("No user ",),
    "/api/tasks/{task_id}/complete/": ("does not pass its form",),
}
#: Fields that take an integer written as one: ``1``, not ``1.0``. JSON Schema
#: holds both to be the same integer, so the document cannot say it.
WHOLE_NUMBERS = ("attempt", "limit")
API = [
    (path, method)
    for path, methods in openapi.document()["paths"].items()
    for method in methods
    if method in ("get", "post") and path != "/webhook/"
]


def in_process(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Django's WSGI handler, keeping the test's connection (and so its transaction).

    Django closes a connection at each request's start and end when it is not
    in autocommit mode; its test client switches that off around a request,
    and so does this.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = WSGIHandler()(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@dataclass
class World:
    """The sagas the examples act on, by what an operator meets, and who asks."""

    sagas: dict[str, str]
    steps: dict[str, str]
    batch: str
    report_token: str
    token: str
    viewer_token: str
    session: str


@pytest.fixture
def world(django_user_model, settings) -> World:
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": SECRET}
    # No passwords: hashing one costs a quarter second, and nobody logs in with it.
    root = django_user_model.objects.create(username="root", is_staff=True, is_superuser=True)
    make_user(django_user_model, VIEW, name="viewer")
    client = Client()
    client.force_login(root)
    halted = halted_saga()
    redriven = halted_saga(name="redriven")
    batch = manager.redrive([redriven.pk], rate=1, by=root, reason="fuzz").batch
    waiting = SagaFactory(name="payment", key="order-7")
    SagaStepFactory(saga=waiting, position=0, name="reserve", completed=True)
    pay = SagaStepFactory(saga=waiting, position=1, name="pay", waiting=True)
    sagas = {
        "halted": halted.pk,
        "failed": build_saga("failed").pk,
        "compensation_failed": build_saga("compensation_failed").pk,
        "completed": build_saga("completed").pk,
        "compensated": build_saga("compensated").pk,
        "waiting": waiting.pk,
    }
    ship = SagaStep.objects.get(saga_id=halted.pk, name="ship")
    return World(
        sagas=sagas,
        steps={"ship": "ship", "ship-id": ship.pk, "b": "b", "a": "a", "pay": "pay"},
        batch=batch,
        report_token=pay.report_token,
        token=create_token("root"),
        viewer_token=create_token("viewer"),
        session=client.cookies["sessionid"].value,
    )


# -- what an example draws beside the case ---------------------------------------------------
api_cases = st.one_of(
    *(
        SCHEMA[path][method.upper()].as_strategy(mode)
        for path, method in API
        for mode in GenerationMode
    )
)
webhook_cases = st.one_of(
    *(SCHEMA["/webhook/"]["POST"].as_strategy(mode) for mode in GenerationMode)
)
#: Who asks: None keeps what Schemathesis drew (nothing, or credentials it made up).
callers = st.sampled_from(["token", "token", "session", "viewer", None])
#: Which saga, step or re-drive a path names: None keeps the one drawn.
saga_choices = st.sampled_from(
    ["halted", "failed", "compensation_failed", "completed", "compensated", "waiting", None]
)
step_choices = st.sampled_from(["ship", "ship-id", "b", "a", "pay", None])


def with_caller(case: Any, caller: str | None, world: World) -> None:
    """Give the case ``caller``'s credentials in place of those drawn."""
    if caller is None:
        return
    headers = {
        name: value
        for name, value in (case.headers or {}).items()
        if name.lower() not in ("authorization", "x-csrftoken")
    }
    cookies = {name: value for name, value in (case.cookies or {}).items() if name != "sessionid"}
    if caller == "session":
        headers["X-CSRFToken"] = CSRF
        cookies.update(sessionid=world.session, csrftoken=CSRF)
    else:
        token = world.token if caller == "token" else world.viewer_token
        headers["Authorization"] = f"Bearer {token}"
    case.headers = headers
    case.cookies = cookies


@contextmanager
def rolled_back() -> Iterator[None]:
    """A savepoint undone at the end: the next example meets the sagas as they were."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def send(case: Any, **kwargs: Any) -> Any:
    """Send ``case`` in process and check the answer against the document; a
    refusal must leave every saga, step, outbox message and trail entry as it was."""
    with rolled_back():
        before = snapshot()
        response = case.call(base_url=BASE_URL, app=in_process, **kwargs)
        refused = (
            response.status_code >= 400 and "json" in response.headers.get("content-type", [""])[0]
        )
        code = response.json()["error"] if refused else ""
        event(f"{case.method} {case.path}: {response.status_code} {code}".rstrip())
        case.validate_response(response, checks=CHECKS)
        if case.meta.generation.mode.is_positive and response.status_code == 400:
            assert_refused_for_what_openapi_cannot_say(case, response.json()["message"])
        if response.status_code >= 400:
            assert snapshot() == before, "a refused request wrote something"
    return response


def assert_refused_for_what_openapi_cannot_say(case: Any, message: str) -> None:
    """Data the document calls valid is refused only for a rule it cannot state."""
    if any(rule in message for rule in RULES_OPENAPI_CANNOT_STATE.get(case.path, ())):
        return
    body = case.body if isinstance(case.body, dict) else {}
    for name in WHOLE_NUMBERS:
        if isinstance(body.get(name), float) and message.startswith(f"{name} must be"):
            return
    raise AssertionError(f"a request the document calls valid was refused: {message}")


# -- the JSON API ------------------------------------------------------------------------------
@EXAMPLES
@given(case=api_cases, caller=callers, saga=saga_choices, step=step_choices, batch=st.booleans())
def test_the_json_api_answers_as_its_description_says(world, case, caller, saga, step, batch):
    # What Schemathesis made invalid on purpose stays as it drew it.
    params = case.path_parameters or {}
    if not case.meta.is_negative_at(PATH):
        if saga is not None and "saga_id" in params:
            params["saga_id"] = world.sagas[saga]
        if step is not None and "step" in params:
            params["step"] = world.steps[step]
        if batch and "batch" in params:
            params["batch"] = world.batch
    if not (case.meta.is_negative_at(HEADER) or case.meta.is_negative_at(COOKIE)):
        with_caller(case, caller, world)
    send(case)


# -- the webhook -------------------------------------------------------------------------------
@EXAMPLES
@given(
    case=webhook_cases,
    target=st.sampled_from(["by id", "by key", "done", None]),
    token=st.sampled_from(["right", "wrong", None]),
    attempt=st.sampled_from([1, 2]),
    signing=st.sampled_from(["now", "now", "now", "drawn", None]),
)
def test_the_webhook_answers_as_its_description_says(world, case, target, token, attempt, signing):
    body = case.body
    if isinstance(body, dict) and target is not None and not case.meta.is_negative_at(BODY):
        # Aim the report at the waiting step (or one that is done), the rest as drawn.
        for field in ("saga_id", "saga_name", "key", "report_token"):
            body.pop(field, None)
        if target == "by key":
            body.update(saga_name="payment", key="order-7")
        else:
            body["saga_id"] = world.sagas["waiting" if target == "by id" else "completed"]
        if token is not None or target == "by key":
            body["report_token"] = world.report_token if token == "right" else "0" * 32
        body.update(step_id="pay" if target != "done" else "a", attempt=attempt)
    raw = body if isinstance(body, bytes) else encode(body)
    headers = dict(case.headers or {})
    if case.meta.is_negative_at(HEADER):
        signing = None
    if signing == "now":
        headers.update(signature_headers(raw, SECRET))
    elif signing == "drawn" and isinstance(headers.get(openapi.WEBHOOK_TIMESTAMP_HEADER), str):
        drawn = headers[openapi.WEBHOOK_TIMESTAMP_HEADER]
        headers[openapi.WEBHOOK_SIGNATURE_HEADER] = sign(raw, SECRET, drawn)
    case.headers = headers
    send(case, data=raw)
