"""One trace across two saga_engine processes on RabbitMQ and PostgreSQL.

A span of the test stands in for the web request that starts the saga. The
engines run in subprocesses whose tracer providers write each span to a file
(``SAGA_TEST_OTEL_SPANS``, see tests/otel.py); the test reads them back and
finds every step and compensation under the request, run by both processes.
"""

from __future__ import annotations

import pytest

from django_saga import Step, manager
from tests import otel
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.otel import SPANS_FILE, Recorded, read_spans

#: Spans exported in memory, through a tracer provider of the test's own.
traced = otel.traced

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]

#: Enough sequential steps that the broker's round robin hands some to each engine.
STEPS = 8


def test_one_trace_shows_the_request_every_step_and_compensation_from_two_engines(
    traced, amqp, engine_process, monkeypatch, tmp_path
):
    spans_file = tmp_path / "engine-spans.jsonl"
    monkeypatch.setenv(SPANS_FILE, str(spans_file))
    engines = [engine_process({**amqp}, "--concurrency", "2") for _ in range(2)]
    names = [f"s{i}" for i in range(STEPS)]

    with traced.tracer.start_as_current_span("POST /orders") as request:
        saga = manager.start(
            "order",
            [Step(name, "test.record", "test.undo", {"step": name}) for name in names]
            + [Step("last", "test.fail", "")],
        )
    saga = wait_terminal(saga.id, 60)
    assert saga.state == "compensated", saga.error

    def runs() -> list[Recorded]:
        return [s for s in read_spans(spans_file) if s.attributes.get("saga.id") == saga.id]

    expected = 2 * STEPS + 1
    wait_for(lambda: len(runs()) >= expected, 20, f"{expected} spans from the engines")
    spans = runs()
    [start] = [s for s in traced.spans() if s.name == "saga order"]
    trace_id = f"{request.get_span_context().trace_id:032x}"
    assert start.trace_id == trace_id
    assert start.parent_id == f"{request.get_span_context().span_id:016x}"

    executed = [
        s.attributes["saga.step.name"] for s in spans if s.attributes["saga.step.kind"] == "execute"
    ]
    compensated = [
        s.attributes["saga.step.name"]
        for s in spans
        if s.attributes["saga.step.kind"] == "compensate"
    ]
    assert sorted(executed) == sorted([*names, "last"])
    assert sorted(compensated) == sorted(names)
    for span in spans:
        assert (span.trace_id, span.parent_id) == (trace_id, start.span_id)
        assert span.attributes["saga.name"] == "order"
        assert span.attributes["saga.step.attempt"] == 1
    [failed] = [s for s in spans if s.attributes["saga.step.name"] == "last"]
    assert failed.attributes["saga.step.outcome"] == "failed"
    assert failed.attributes["saga.step.error"] == "ValueError: last refuses"
    assert failed.status == "ERROR"
    pids = {span.pid for span in spans}
    assert pids == {engine.process.pid for engine in engines}, "both engines ran steps"
