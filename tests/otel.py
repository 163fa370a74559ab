"""OpenTelemetry for the tests: spans in memory here, and in a file from engine subprocesses.

``traced`` points django_saga.tracing at a tracer provider of the test's own,
with the SDK's in-memory exporter, so no global provider is set and other
tests trace nothing. An engine subprocess cannot share that memory: with
``SAGA_TEST_OTEL_SPANS`` set, tests/settings.py gives it a provider that
appends each span, as it ends, to that file as a JSON line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from django_saga import tracing

#: The environment variable naming the file an engine subprocess writes its spans to.
SPANS_FILE = "SAGA_TEST_OTEL_SPANS"


@dataclass
class Recorded:
    """A finished span, the same whether it was exported in memory or through a file."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any]
    links: list[str]
    status: str
    events: list[str]
    pid: int

    @classmethod
    def of(cls, span: ReadableSpan) -> Recorded:
        context = span.get_span_context()
        assert context is not None
        return cls(
            name=span.name,
            trace_id=f"{context.trace_id:032x}",
            span_id=f"{context.span_id:016x}",
            parent_id=f"{span.parent.span_id:016x}" if span.parent else None,
            attributes=dict(span.attributes or {}),
            links=[f"{link.context.trace_id:032x}" for link in span.links],
            status=span.status.status_code.name,
            events=[event.name for event in span.events],
            pid=int(str(span.resource.attributes.get("process.pid", os.getpid()))),
        )


class JsonLinesExporter(SpanExporter):
    """Appends each span to a file as one JSON line; processes may share the file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(Recorded.of(span).__dict__) + "\n" for span in spans)
        # One write of whole lines in append mode: lines of two processes never interleave.
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(lines)
        return SpanExportResult.SUCCESS


def install_file_exporter(path: str) -> None:
    """Make this process's global tracer provider write its spans to ``path``."""
    provider = TracerProvider(resource=Resource.create({"process.pid": os.getpid()}))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    trace.set_tracer_provider(provider)


def read_spans(path: Path) -> list[Recorded]:
    if not path.exists():
        return []
    return [Recorded(**json.loads(line)) for line in path.read_text().splitlines() if line]


class Traces:
    """The test's tracer (for a span standing in for the request) and what was exported."""

    def __init__(self, provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
        self.tracer = provider.get_tracer("tests")
        self.exporter = exporter

    def spans(self) -> list[Recorded]:
        return [Recorded.of(span) for span in self.exporter.get_finished_spans()]


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traces]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"process.pid": os.getpid()}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel = tracing._import()
    otel.tracer = provider.get_tracer(tracing.TRACER_NAME)
    monkeypatch.setattr(tracing, "_otel", otel)
    yield Traces(provider, exporter)
    provider.shutdown()
