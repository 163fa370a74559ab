"""Property-based tests: whatever a caller hands over, the outcome is documented.

For arguments to ``start()``, message bodies and webhook bodies drawn by
Hypothesis, the only outcomes are success or the documented refusal
(``SagaDefinitionError``, a dead-lettered message, a 4xx answer), never
another exception, and a refusal writes nothing. Both databases run these
(``./run test`` has a PostgreSQL pass), a few hundred examples each; in CI
the examples are derandomised, so a run is repeatable (``strategies.py``).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from django_saga import SagaAlreadyActive, SagaDefinitionError, Step, manager
from django_saga.messages import COMPENSATE, EXECUTE, StepMessage
from django_saga.models import Saga, SagaStep
from django_saga.processor import ACK, DEAD_LETTER, Processor
from django_saga.stores import get_store
from django_saga.webhook import signature_headers
from tests.factories import SagaFactory, SagaStepFactory
from tests.fuzz.strategies import (
    EXAMPLES,
    SECRET,
    anything,
    contexts,
    counts,
    deadlines,
    encode,
    good_steps,
    json_values,
    odd_text,
    plain_json,
    plain_text,
    step_lists,
)

pytestmark = pytest.mark.django_db


# -- start() -------------------------------------------------------------------------
@EXAMPLES
@given(
    name=st.sampled_from(["order", "refund"]) | odd_text | anything,
    declared=step_lists,
    context=contexts,
    deadline=st.none() | deadlines,
    key=st.just("") | st.sampled_from(["order-1", "k" * 200, "k" * 201]) | odd_text | anything,
    if_active=st.sampled_from(["return", "raise"]) | odd_text,
)
def test_start_records_a_saga_or_refuses_with_a_definition_error_and_writes_nothing(
    name, declared, context, deadline, key, if_active
):
    before = counts()
    try:
        saga = manager.start(
            name, declared, context, deadline=deadline, key=key, if_active=if_active
        )
    except SagaAlreadyActive:
        event("key taken")
        assert counts() == before, "a refused start() wrote something"
        return
    except SagaDefinitionError as refused:
        event(f"refused: {type(refused).__name__}")
        assert counts() == before, "a refused start() wrote something"
        return
    if not saga.created:
        # An earlier example's saga holds the key and has not finished:
        # start() returns that saga and writes nothing.
        event("key taken: the running saga returned")
        assert saga.key == key and counts() == before
        return
    event("started")
    after = counts()
    assert after[0] == before[0] + 1
    assert after[1] == before[1] + len(saga.steps)
    stored = Saga.objects.get(pk=saga.id)
    # What was accepted reads back as JSON, unchanged.
    assert json.loads(json.dumps(stored.context)) == stored.context


@EXAMPLES
@given(
    name=st.sampled_from(["order", "refund"]) | plain_text.filter(lambda t: t.strip()),
    declared=good_steps,
    context=st.dictionaries(plain_text, plain_json, max_size=4),
    deadline=st.none()
    | st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=365)),
)
def test_well_formed_arguments_start_a_saga_that_reads_back_as_given(
    name, declared, context, deadline
):
    before = counts()
    saga = manager.start(name, declared, context, deadline=deadline)
    assert counts()[:2] == (before[0] + 1, before[1] + len(declared))
    stored = manager.get(saga.id)
    # JSON has one number type for floats: compare through a JSON round trip.
    assert stored.context == json.loads(json.dumps(context))
    assert [s.input for s in stored.steps] == [json.loads(json.dumps(d.input)) for d in declared]


# -- message bodies ------------------------------------------------------------------
message_fields = st.fixed_dictionaries(
    {},
    optional={
        "v": st.just(1) | anything,
        "kind": st.sampled_from([EXECUTE, COMPENSATE]) | anything,
        "saga_id": odd_text | anything,
        "step_id": odd_text | anything,
        "attempt": st.integers(min_value=-3, max_value=5) | anything,
    },
)


bodies = (
    st.binary(max_size=200)
    | message_fields.map(encode)
    | st.integers(min_value=0, max_value=30_000).map(lambda n: b"[" * n + b"]" * n)
)


@EXAMPLES
@given(body=bodies, redelivered=st.booleans())
def test_any_message_body_is_processed_or_dead_lettered_never_raised(body, redelivered):
    before = counts()
    result = Processor(get_store()).process(body, redelivered=redelivered)
    assert result.action == DEAD_LETTER, result
    assert result.reason
    assert counts() == before


@EXAMPLES
@given(kind=st.sampled_from([EXECUTE, COMPENSATE]), attempt=st.integers(1, 2**40))
def test_a_message_for_a_real_step_runs_it_once_or_is_dropped_as_stale(kind, attempt):
    saga = manager.start("order", [Step("a", "test.record", "test.undo")])
    step = saga.steps[0]
    body = StepMessage(kind, saga.id, step.id, attempt).encode().encode()
    result = Processor(get_store()).process(body)
    assert result.action == ACK
    expected = "completed" if (kind, attempt) == (EXECUTE, 1) else "started"
    assert SagaStep.objects.get(pk=step.pk).status == expected


# -- webhook bodies ------------------------------------------------------------------
good_reports = st.fixed_dictionaries(
    {
        "saga_id": st.just("the waiting saga"),
        "step_id": st.just("pay"),
        "attempt": st.just(1) | st.integers(1, 3),
        "status": st.sampled_from(["completed", "failed"]),
    },
    optional={
        "output": st.none() | st.dictionaries(plain_text, plain_json, max_size=3),
        "error": st.none() | plain_text | odd_text,
    },
)
report_fields = good_reports | st.fixed_dictionaries(
    {},
    optional={
        "saga_id": st.just("the waiting saga") | odd_text | anything,
        "step_id": st.just("pay") | odd_text | anything,
        "attempt": st.just(1) | st.integers(-2, 3) | anything,
        "status": st.sampled_from(["completed", "failed"]) | anything,
        "output": st.dictionaries(odd_text, json_values, max_size=3) | anything,
        "error": st.just("declined") | odd_text | anything,
        "extra": anything,
    },
)


@EXAMPLES
@given(fields=report_fields, raw=st.none() | st.binary(max_size=100))
def test_any_signed_webhook_body_is_answered_in_4xx_or_recorded(
    client, webhook_secret, fields, raw
):
    step = SagaStepFactory(saga=SagaFactory(), position=0, name="pay", waiting=True)
    if fields.get("saga_id") == "the waiting saga":
        fields["saga_id"] = step.saga_id
    body = raw if raw is not None else encode(fields)
    before = counts()
    response = client.post(
        "/sagas/webhook/",
        body,
        content_type="application/json",
        headers=signature_headers(body, SECRET),
    )
    assert response.status_code in (200, 400, 404, 409), response.content
    event(f"answered {response.status_code}")
    assert response.json()["error" if response.status_code != 200 else "recorded"] is not None
    status = SagaStep.objects.get(pk=step.pk).status
    if response.status_code != 200:
        assert status == "waiting"
        assert counts() == before
    else:
        assert status in ("completed", "failed")
