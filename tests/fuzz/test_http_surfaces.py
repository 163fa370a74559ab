"""Every HTTP surface with whatever a client sends: console forms, JSON API
bodies, list filters and cursors, and the webhook's headers.

The answer is a page, a redirect or a 4xx that says why (a JSON error for
the API), never a 5xx; an answer that is not a success writes nothing.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from django_saga.models import SagaStep
from django_saga.webhook import sign
from tests.factories import SagaFactory, SagaStepFactory, halted_saga
from tests.fuzz.strategies import (
    EXAMPLES,
    SECRET,
    ages,
    anything,
    encode,
    json_values,
    odd_text,
    plain_json,
    plain_text,
    reasons,
    snapshot,
)

pytestmark = pytest.mark.django_db


def a_halted_saga():
    """A saga an operator may act on: ``ship`` failed after the pivot."""
    saga = halted_saga()
    return saga, SagaStep.objects.get(saga=saga, name="ship")


def query(params: dict[str, str]) -> str:
    """A query string as any client could write it: each value's UTF-8 bytes,
    lone surrogates included, percent-encoded."""
    return "&".join(
        f"{quote(k, safe='')}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in params.items()
    )


filter_values = st.sampled_from(["", "halted", "order", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"]) | odd_text
filters = st.dictionaries(
    st.sampled_from(["state", "name", "key", "q", "before", "after", "page", "o", "p", "e"]),
    filter_values,
    max_size=4,
)


# -- list pages --------------------------------------------------------------------------
@EXAMPLES
@given(
    path=st.sampled_from(["/sagas/", "/sagas/api/sagas/", "/admin/django_saga/saga/"]),
    params=filters,
)
def test_any_list_filter_or_cursor_is_answered_without_a_server_error(admin_client, path, params):
    a_halted_saga()
    response = admin_client.get(path, QUERY_STRING=query(params))
    event(f"{path}: {response.status_code}")
    assert response.status_code < 500, response.content[:500]
    if path.startswith("/sagas/api/") and response.status_code >= 400:
        assert response.json()["message"]


# -- the JSON API ------------------------------------------------------------------------
json_fields = st.fixed_dictionaries(
    {},
    optional={
        "reason": reasons | anything,
        "input": st.dictionaries(plain_text, plain_json, max_size=3) | json_values | anything,
        "output": st.dictionaries(plain_text, plain_json, max_size=3) | json_values | anything,
        "rate": st.sampled_from([1, 1e-15, 0, -1, 1e308]) | anything,
        "saga_ids": st.lists(odd_text, max_size=3) | anything,
        "name": filter_values | anything,
        "state": filter_values | anything,
        "older_than": ages | anything,
        "limit": st.integers(-5, 10**6) | anything,
        "extra": anything,
    },
)
json_bodies = json_fields.map(encode) | st.binary(max_size=200) | json_values.map(encode)


@EXAMPLES
@given(
    endpoint=st.sampled_from(
        [
            "compensate/",
            "retry-compensation/",
            "steps/ship/retry/",
            "steps/ship/skip/",
            "steps/nope/retry/",
            "REDRIVE",
        ]
    ),
    body=json_bodies,
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded"]
    ),
)
def test_any_json_api_body_is_answered_in_json_and_a_refusal_writes_nothing(
    admin_client, endpoint, body, content_type
):
    saga, _ = a_halted_saga()
    url = (
        "/sagas/api/redrive/" if endpoint == "REDRIVE" else f"/sagas/api/sagas/{saga.pk}/{endpoint}"
    )
    before = snapshot()
    response = admin_client.post(url, body, content_type=content_type)
    event(f"{endpoint}: {response.status_code}")
    assert response.status_code < 500, response.content[:500]
    answer = response.json()
    if response.status_code >= 400:
        assert answer["error"] and answer["message"]
        assert snapshot() == before, "a refused request wrote something"


# -- console forms -----------------------------------------------------------------------
form_fields = st.fixed_dictionaries(
    {},
    optional={
        "reason": reasons,
        "step_json": odd_text | json_values.map(lambda v: encode(v).decode("utf-8", "replace")),
        "rate": st.sampled_from(["1", "1e-15", "0", "-1", "1e308", "nan", "inf"]) | odd_text,
        "name": filter_values,
        "state": filter_values,
        "error": odd_text,
        "older_than": ages,
        "confirm": st.sampled_from(["yes", ""]) | odd_text,
    },
)


@EXAMPLES
@given(
    endpoint=st.sampled_from(["compensate/", "STEP/retry-step/", "STEP/skip-step/", "REDRIVE"]),
    fields=form_fields,
)
def test_any_console_form_is_answered_with_a_page_and_a_refusal_writes_nothing(
    admin_client, endpoint, fields
):
    saga, ship = a_halted_saga()
    if endpoint == "REDRIVE":
        url = "/sagas/redrive/"
    else:
        url = f"/sagas/{saga.pk}/" + endpoint.replace("STEP", f"steps/{ship.pk}")
    before = snapshot()
    body = query(fields)
    response = admin_client.post(url, body, content_type="application/x-www-form-urlencoded")
    event(f"{endpoint}: {response.status_code}")
    assert response.status_code < 500, response.content[:500]
    if response.status_code != 302:
        assert snapshot() == before, "a refused form wrote something"


# -- the webhook's headers ---------------------------------------------------------------
@EXAMPLES
@given(
    length=st.none() | st.sampled_from(["", "-1", "²", "1e3", " 12", "99999999999999999999"]),
    timestamp=st.none() | st.sampled_from(["0", "-1", "1e9", "nan", "²"]) | odd_text,
    signature=st.none() | st.sampled_from(["", "sha256=", "sha256=zz", "md5=00"]) | odd_text,
    sign_it=st.booleans(),
)
def test_any_webhook_headers_are_answered_in_4xx_and_record_nothing(
    client, webhook_secret, length, timestamp, signature, sign_it
):
    step = SagaStepFactory(saga=SagaFactory(), position=0, name="pay", waiting=True)
    body = encode({"saga_id": step.saga_id, "step_id": "pay", "attempt": 1, "status": "completed"})
    headers: dict[str, str] = {}
    if timestamp is not None:
        headers["HTTP_X_SAGA_TIMESTAMP"] = timestamp.encode("utf-8", "replace").decode("latin-1")
    if sign_it and timestamp is not None:
        headers["HTTP_X_SAGA_SIGNATURE"] = sign(body, SECRET, headers["HTTP_X_SAGA_TIMESTAMP"])
    elif signature is not None:
        headers["HTTP_X_SAGA_SIGNATURE"] = signature.encode("utf-8", "replace").decode("latin-1")
    if length is not None:
        headers["CONTENT_LENGTH"] = length
    before = snapshot()
    response = client.post("/sagas/webhook/", body, content_type="application/json", **headers)
    event(f"answered {response.status_code}")
    assert 400 <= response.status_code < 500, response.content[:500]
    assert response.json()["error"]
    assert snapshot() == before
