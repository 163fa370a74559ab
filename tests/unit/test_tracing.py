"""OpenTelemetry traces over the in-process engine: one trace from the caller's span
through every step and compensation, retries included; outside results linked to it;
and nothing at all when opentelemetry is not installed."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from django_saga import Step, manager, register_step_handler, tracing
from django_saga.models import Saga
from django_saga.registry import registry
from django_saga.webhook import signature_headers
from tests import otel
from tests.conftest import wait_for
from tests.helpers import steps, wait_terminal
from tests.otel import Recorded, Traces

#: Spans exported in memory, through a tracer provider of the test's own.
traced = otel.traced

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "tracing-secret"


def by_name(spans: list[Recorded]) -> dict[str, list[Recorded]]:
    named: dict[str, list[Recorded]] = {}
    for span in spans:
        named.setdefault(span.name, []).append(span)
    return named


def handler_runs(spans: list[Recorded], saga_id: str) -> list[Recorded]:
    """The spans of the saga's handler runs, in the order they ended."""
    return [
        s
        for s in spans
        if s.attributes.get("saga.id") == saga_id and s.attributes.get("saga.step.kind")
    ]


def wait_for_spans(traces: Traces, saga_id: str, count: int) -> list[Recorded]:
    # The span ends just after the engine records the result the test waited for.
    wait_for(lambda: len(handler_runs(traces.spans(), saga_id)) >= count, 10, f"{count} spans")
    return handler_runs(traces.spans(), saga_id)


def test_every_step_and_compensation_is_a_span_under_the_callers(traced, run_engine):
    run_engine()
    with traced.tracer.start_as_current_span("POST /orders") as request:
        saga = manager.start(
            "order",
            steps(
                ("reserve", "test.record", "test.undo"),
                ("charge", "test.record", "test.undo"),
                ("ship", "test.fail", "test.undo"),
            ),
        )
    assert saga.trace_context and saga.trace_context["traceparent"].startswith("00-")
    assert Saga.objects.get(pk=saga.pk).trace_context == saga.trace_context
    assert wait_terminal(saga.id).state == "compensated"
    runs = wait_for_spans(traced, saga.id, 5)

    trace_id = f"{request.get_span_context().trace_id:032x}"
    [start] = by_name(traced.spans())["saga order"]
    assert start.parent_id == f"{request.get_span_context().span_id:016x}"
    assert start.attributes == {"saga.id": saga.id, "saga.name": "order"}
    assert [(s.name, s.attributes["saga.step.outcome"]) for s in runs] == [
        ("execute test.record", "completed"),
        ("execute test.record", "completed"),
        ("execute test.fail", "failed"),
        ("compensate test.undo", "compensated"),
        ("compensate test.undo", "compensated"),
    ]
    assert [s.attributes["saga.step.name"] for s in runs] == [
        "reserve",
        "charge",
        "ship",
        "charge",
        "reserve",
    ]
    for span in runs:
        assert span.trace_id == trace_id
        assert span.parent_id == start.span_id
        assert span.attributes["saga.name"] == "order"
        assert span.attributes["saga.step.attempt"] == 1
        assert span.attributes["saga.step.id"] == saga.step(span.attributes["saga.step.name"]).id
    failed = runs[2]
    assert failed.status == "ERROR" and failed.events == ["exception"]
    assert failed.attributes["saga.step.error"] == "ValueError: ship refuses"
    assert failed.attributes["saga.step.kind"] == "execute"
    assert runs[3].attributes["saga.step.kind"] == "compensate"
    assert runs[3].attributes["saga.step.action"] == "test.undo"
    assert all(s.status == "UNSET" for s in runs if s is not failed)


def test_each_retry_is_a_span_with_its_attempt_and_outcome(traced, run_engine):
    run_engine()
    with traced.tracer.start_as_current_span("job"):
        saga = manager.start(
            "retried",
            [
                Step("flaky", "test.flaky", "", {"fail_times": 2}),
                Step("undo_twice", "test.fail", "test.undo_flaky"),
            ],
        )
    wait_terminal(saga.id)
    runs = wait_for_spans(traced, saga.id, 3)
    flaky = [s for s in runs if s.attributes["saga.step.name"] == "flaky"]
    assert [
        (s.attributes["saga.step.attempt"], s.attributes["saga.step.outcome"]) for s in flaky
    ] == [
        (1, "retrying"),
        (2, "retrying"),
        (3, "completed"),
    ]
    assert flaky[0].attributes["saga.step.error"] == "RetryableError: attempt 1 of flaky hit a blip"
    assert len({s.trace_id for s in runs}) == 1
    assert len({s.parent_id for s in runs}) == 1


def test_a_handlers_own_spans_nest_under_its_run(traced, run_engine):
    def call_out(saga, step):
        with traced.tracer.start_as_current_span("GET /stock"):
            return {}

    register_step_handler("tmp.call_out", call_out)
    try:
        run_engine()
        saga = manager.start("nested", [Step("a", "tmp.call_out", "")])
        wait_terminal(saga.id)
        [run] = wait_for_spans(traced, saga.id, 1)
    finally:
        registry.unregister("execute", "tmp.call_out")
    [call] = by_name(traced.spans())["GET /stock"]
    assert (call.trace_id, call.parent_id) == (run.trace_id, run.span_id)


def test_complete_step_and_the_webhook_link_to_the_sagas_trace(traced, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": SECRET}
    run_engine()
    with traced.tracer.start_as_current_span("checkout") as request:
        sagas = [
            manager.start("pay", [Step("pay", "test.pending"), Step("c", "test.record", "")])
            for _ in range(2)
        ]
    for saga in sagas:
        wait_for(lambda s=saga: manager.get(s.id).step("pay").status == "waiting", 10, "waiting")
    by_manager, by_webhook = sagas
    manager.complete_step(by_manager.id, "pay", {"ok": 1})
    pay = manager.get(by_webhook.id).step("pay")
    body = json.dumps(
        {"saga_id": pay.saga_id, "step_id": pay.id, "attempt": 1, "status": "completed"}
    ).encode()
    response = Client().post(
        "/sagas/webhook/",
        body,
        content_type="application/json",
        headers=signature_headers(body, SECRET),
    )
    assert response.status_code == 200
    for saga in sagas:
        assert wait_terminal(saga.id).state == "completed"

    trace_id = f"{request.get_span_context().trace_id:032x}"
    outside = by_name(traced.spans())["outside result pay"]
    assert [s.attributes["saga.id"] for s in outside] == [by_manager.id, by_webhook.id]
    for span in outside:
        # Its own trace (the caller's), linked to the saga's.
        assert span.trace_id != trace_id and span.links == [trace_id]
        assert span.attributes["saga.step.outcome"] == "completed"
        assert span.attributes["saga.result.recorded"] is True
    # The step after the outside result is in the saga's trace, as ever.
    for saga in sagas:
        runs = wait_for_spans(traced, saga.id, 2)
        assert [s.attributes["saga.step.name"] for s in runs] == ["pay", "c"]
        assert {s.trace_id for s in runs} == {trace_id}


def test_a_saga_started_outside_any_span_gets_a_trace_of_its_own(traced, run_engine):
    run_engine()
    saga = manager.start("cron", steps(("a", "test.record", ""), ("b", "test.record", "")))
    wait_terminal(saga.id)
    runs = wait_for_spans(traced, saga.id, 2)
    [start] = by_name(traced.spans())["saga cron"]
    assert start.parent_id is None
    assert {(s.trace_id, s.parent_id) for s in runs} == {(start.trace_id, start.span_id)}


def test_a_stored_context_that_is_not_one_starts_a_new_trace(traced, run_engine):
    saga = manager.start("odd", steps(("a", "test.record", "")))
    Saga.objects.filter(pk=saga.pk).update(trace_context={"traceparent": 42, "x": "y"})
    run_engine()
    wait_terminal(saga.id)
    [run] = wait_for_spans(traced, saga.id, 1)
    assert run.parent_id is None and run.attributes["saga.step.outcome"] == "completed"


def test_with_the_api_but_no_sdk_nothing_is_stored(monkeypatch, run_engine):
    # The API alone (no tracer provider set): spans record nothing, so there is
    # no context to keep.
    monkeypatch.setattr(tracing, "_otel", tracing._UNSET)
    saga = manager.start("plain", steps(("a", "test.record", "")))
    assert saga.trace_context is None
    run_engine()
    assert wait_terminal(saga.id).state == "completed"


def test_without_opentelemetry_nothing_breaks_and_nothing_is_stored(
    monkeypatch, run_engine, settings
):
    def not_installed() -> tracing._Otel:
        raise ImportError("No module named 'opentelemetry'")

    monkeypatch.setattr(tracing, "_otel", tracing._UNSET)
    monkeypatch.setattr(tracing, "_import", not_installed)
    run_engine()
    saga = manager.start(
        "untraced",
        [
            Step("a", "test.record", "test.undo"),
            Step("pay", "test.pending", ""),
            Step("c", "test.fail", ""),
        ],
    )
    wait_for(lambda: manager.get(saga.id).step("pay").status == "waiting", 10, "waiting")
    manager.complete_step(saga.id, "pay")
    assert wait_terminal(saga.id).state == "compensated"
    assert tracing._otel is None
    assert Saga.objects.get(pk=saga.pk).trace_context is None
