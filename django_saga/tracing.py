"""OpenTelemetry traces (the ``otel`` extra: ``pip install "django-saga[otel]"``).

``start()`` opens a short span for the new saga, a child of whatever span is
current (the web request's, say), and keeps its W3C trace context
(``traceparent``, ``tracestate``) on the saga row. Every handler run, execute
or compensate, opens a span whose parent is that context, in whichever engine
process runs it and however its message got there: the relay, a retry, a
republish after a crash, an operator's retry. Messages carry references only,
so the context lives where everything else does, in the database, and the
engine reads it with the saga row it reads anyway. An outside result
(``complete_step``, ``fail_step``, the webhook) gets a span of its own,
linked to the saga's trace.

This is the only module that imports opentelemetry, on first use and once.
Without it every hook returns at a ``None`` check and nothing is stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Saga, SagaStep

#: The instrumentation scope of every span django-saga opens.
TRACER_NAME = "django_saga"

#: Span attributes, namespaced so that they never clash with an exporter's own.
SAGA_ID = "saga.id"
SAGA_NAME = "saga.name"
STEP_ID = "saga.step.id"
STEP_NAME = "saga.step.name"
KIND = "saga.step.kind"
ACTION = "saga.step.action"
ATTEMPT = "saga.step.attempt"
OUTCOME = "saga.step.outcome"
ERROR = "saga.step.error"

_UNSET: Any = object()
#: The loaded API (``_Otel``), None when opentelemetry is not installed, or
#: ``_UNSET`` before the first use.
_otel: Any = _UNSET


class _Otel:
    """The pieces of the opentelemetry API the hooks use, imported once."""

    def __init__(self) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.context = context
        self.trace = trace
        # W3C trace context whatever the process's global propagator is: the
        # stored value must read the same in every process.
        self.propagator = TraceContextTextMapPropagator()
        # A proxy until the application sets its tracer provider, then that one's.
        self.tracer = trace.get_tracer(TRACER_NAME)


def _import() -> _Otel:
    return _Otel()


def _load() -> _Otel | None:
    """The API, imported on the first call; None for good when it is not installed."""
    global _otel
    if _otel is _UNSET:
        try:
            _otel = _import()
        except ImportError:
            _otel = None
    return _otel


def saga_started(saga: Saga) -> dict[str, str] | None:
    """Open and end the span of ``saga``'s start under the current span; the
    trace context to store on the saga (None: not traced)."""
    otel = _otel if _otel is not _UNSET else _load()
    if otel is None:
        return None
    span = otel.tracer.start_span(
        f"saga {saga.name}",
        kind=otel.trace.SpanKind.PRODUCER,
        attributes={SAGA_ID: str(saga.pk), SAGA_NAME: saga.name},
    )
    try:
        carrier: dict[str, str] = {}
        otel.propagator.inject(carrier, context=otel.trace.set_span_in_context(span))
    finally:
        span.end()
    # No valid span (no SDK, or a sampler that drops it): nothing to continue.
    return carrier or None


class StepSpan:
    """The span of one handler run, current while the handler runs so that
    the handler's own spans (HTTP calls, queries) nest under it."""

    __slots__ = ("_otel", "_token", "span")

    def __init__(self, otel: _Otel, span: Any, token: object) -> None:
        self._otel = otel
        self.span = span
        self._token = token

    def leave(self, exc: BaseException | None = None, error: str = "") -> None:
        """The handler returned, or raised ``exc``: its span is no longer current."""
        if self._token is not None:
            self._otel.context.detach(self._token)
            self._token = None
        if exc is not None:
            self.span.record_exception(exc)
            self.span.set_status(self._otel.trace.StatusCode.ERROR, error)
            self.span.set_attribute(ERROR, error)

    def end(self, outcome: str) -> None:
        """The run's result is recorded as ``outcome`` (completed, retrying, ...)."""
        self.leave()
        self.span.set_attribute(OUTCOME, outcome)
        self.span.end()


def step_span(saga: Saga, step: SagaStep, kind: str, action: str, attempt: int) -> StepSpan | None:
    """Open the span of a handler run, a child of the saga's stored context.

    None when opentelemetry is not installed: the engine's only cost then.
    """
    otel = _otel if _otel is not _UNSET else _load()
    if otel is None:
        return None
    span = otel.tracer.start_span(
        f"{kind} {action}",
        context=_parent(otel, saga.trace_context),
        kind=otel.trace.SpanKind.CONSUMER,
        attributes={
            SAGA_ID: str(saga.pk),
            SAGA_NAME: saga.name,
            STEP_ID: str(step.pk),
            STEP_NAME: step.name,
            KIND: kind,
            ACTION: action,
            ATTEMPT: attempt,
        },
    )
    token = otel.context.attach(otel.trace.set_span_in_context(span))
    return StepSpan(otel, span, token)


class OutsideResult:
    """The span of an outside result, told whether the result was recorded."""

    __slots__ = ("span",)

    def __init__(self, span: Any = None) -> None:
        self.span = span

    def recorded(self, recorded: bool) -> None:
        if self.span is not None:
            self.span.set_attribute("saga.result.recorded", recorded)


_NOT_TRACED = OutsideResult()


@contextlib.contextmanager
def outside_result(
    saga: Saga, step: SagaStep, outcome: str, attempt: int | None
) -> Iterator[OutsideResult]:
    """A span for a result reported from outside (``complete_step``, the webhook),
    under the caller's current span and linked to the saga's trace.

    A link, not a parent: the call belongs to the provider's request, and the
    link lets a trace viewer go from one to the other.
    """
    otel = _otel if _otel is not _UNSET else _load()
    if otel is None:
        yield _NOT_TRACED
        return
    links = []
    parent = _parent(otel, saga.trace_context)
    if parent is not None:
        traced = otel.trace.get_current_span(parent).get_span_context()
        if traced.is_valid:
            links.append(otel.trace.Link(traced))
    attributes: dict[str, Any] = {
        SAGA_ID: str(saga.pk),
        SAGA_NAME: saga.name,
        STEP_ID: str(step.pk),
        STEP_NAME: step.name,
        OUTCOME: outcome,
    }
    if attempt is not None:
        attributes[ATTEMPT] = attempt
    with otel.tracer.start_as_current_span(
        f"outside result {step.name}",
        links=links,
        attributes=attributes,
    ) as span:
        yield OutsideResult(span)


def _parent(otel: _Otel, stored: Mapping[str, Any] | None) -> Any:
    """The context a stored ``traceparent`` names; None (the current one) if none is stored."""
    if not isinstance(stored, Mapping) or not stored:
        return None
    carrier = {k: v for k, v in stored.items() if isinstance(k, str) and isinstance(v, str)}
    return otel.propagator.extract(carrier)
