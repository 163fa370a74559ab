"""Prometheus metrics (the ``metrics`` extra: ``pip install "django-saga[metrics]"``).

``install()`` registers them on prometheus_client's default registry and
connects the counters to django-saga's signals, so each process counts the
transitions it commits. ``saga_engine --metrics-port PORT`` calls it and
serves the registry over HTTP; the console's ``metrics/`` view serves it too.

Counters (per process, from the signals):

* ``django_saga_sagas_ended_total{name, state}``: sagas that reached
  ``completed``, ``compensated``, ``compensation_failed``, ``failed`` or
  ``halted``;
* ``django_saga_steps_total{kind, action, outcome}``: steps that completed,
  failed, were compensated, or whose compensation failed;
* ``django_saga_step_duration_seconds{kind, action, outcome}``: one
  observation per attempt, retried ones included;
* ``django_saga_step_retries_total{kind, action}``: attempts that were
  retried. Attempts are counted from the step's history when the step ends
  (completes, fails for good, is compensated or stops a compensation), not
  as each retry happens;
* ``django_saga_schedule_ticks_total{schedule, outcome}``: ticks of each
  schedule that ``started`` a saga, were ``skipped`` (missed while no
  engine ran, or overlapping an active run), started ``late`` (after
  ``SCHEDULE_LATE_AFTER``; counted among started too) or ``failed`` to start.

Gauges (read from the database and the broker at each scrape, so the same
in every process):

* ``django_saga_sagas{state}``: sagas in ``started``, ``compensating``,
  ``failed``, ``halted`` and ``compensation_failed``;
* ``django_saga_sagas_stale``: active sagas with no progress for
  ``STALE_AFTER`` seconds;
* ``django_saga_outbox_backlog`` and ``django_saga_outbox_oldest_seconds``:
  unsent outbox messages whose publish time has come, and the age of the
  oldest one (the relay is behind when these grow);
* ``django_saga_dead_letter_messages``: messages waiting in the dead-letter
  queue (left out of a scrape when the broker cannot be reached);
* ``django_saga_held_messages{kind, action, reason}``: messages waiting for a
  ``slot`` of a limited action, or held by a ``pause``;
* ``django_saga_pauses``: pauses of actions and saga names in force;
* ``django_saga_action_limit{kind, action}``: the concurrency limit a handler
  of this process declares, and ``django_saga_action_slots_in_use{kind,
  action}`` how many of its slots run now (PostgreSQL; limits kept for all
  sagas, not per key);
* ``django_saga_action_rate_limit{kind, action}``: the runs a second a
  handler of this process declares as its rate, and
  ``django_saga_action_runs_per_second{kind, action}`` how many runs a
  second every engine started over the last minute (each engine reports
  its count every ``SWEEP_INTERVAL``).
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.db.models import Count, Min
from django.dispatch import Signal

from . import clock, gauges, signals
from .conf import saga_settings

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        Counter,
        Histogram,
        generate_latest,
    )
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError:  # pragma: no cover - exercised only without the extra
    AVAILABLE = False
    Collector = object  # type: ignore[misc,assignment]
else:
    AVAILABLE = True

logger = logging.getLogger("django_saga.metrics")

MISSING = "django-saga metrics need prometheus_client: pip install 'django-saga[metrics]'"

#: Handler durations range from milliseconds to the timeouts of slow services.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

#: Saga states the ``django_saga_sagas`` gauge counts: the ones that do not grow forever.
GAUGE_STATES = ("started", "compensating", "failed", "halted", "compensation_failed", "queued")


class SagaMetrics:
    """The counters and the collector, on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.sagas_ended = Counter(
            "django_saga_sagas_ended",
            "Sagas that reached a final state or one that waits for an operator.",
            ["name", "state"],
            registry=registry,
        )
        self.steps = Counter(
            "django_saga_steps",
            "Step outcomes: kind is execute or compensate, action the handler's name.",
            ["kind", "action", "outcome"],
            registry=registry,
        )
        self.durations = Histogram(
            "django_saga_step_duration_seconds",
            "How long each attempt's handler ran.",
            ["kind", "action", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "django_saga_step_retries",
            "Attempts that failed and were tried again.",
            ["kind", "action"],
            registry=registry,
        )
        self.schedule_ticks = Counter(
            "django_saga_schedule_ticks",
            "Schedule ticks: started, skipped (missed or overlapping), late, failed to start.",
            ["schedule", "outcome"],
            registry=registry,
        )
        registry.register(StateCollector())

    # -- signal receivers ------------------------------------------------------
    def connect(self) -> None:
        receivers: dict[Signal, Callable[..., None]] = {
            signals.saga_completed: self.on_saga_completed,
            signals.saga_failed: self.on_saga_failed,
            signals.saga_compensated: self.on_saga_compensated,
            signals.saga_compensation_failed: self.on_saga_compensation_failed,
            signals.saga_halted: self.on_saga_halted,
            signals.step_completed: self.on_step_completed,
            signals.step_failed: self.on_step_failed,
            signals.step_compensated: self.on_step_compensated,
            signals.step_skipped: self.on_step_skipped,
            signals.schedule_ticked: self.on_schedule_ticked,
        }
        for signal, receiver in receivers.items():
            signal.connect(receiver, weak=False, dispatch_uid=f"django_saga.metrics.{id(self)}")

    def on_schedule_ticked(
        self, sender: Any, schedule: Any, outcome: str, count: int, **kwargs: Any
    ) -> None:
        self.schedule_ticks.labels(schedule.name, outcome).inc(count)

    def on_saga_completed(self, sender: Any, saga: Any, **kwargs: Any) -> None:
        self.sagas_ended.labels(saga.name, "completed").inc()

    def on_saga_compensated(self, sender: Any, saga: Any, **kwargs: Any) -> None:
        self.sagas_ended.labels(saga.name, "compensated").inc()

    def on_saga_failed(self, sender: Any, saga: Any, **kwargs: Any) -> None:
        # Sent for every step that fails for good; the saga only *ends* failed
        # when AUTO_COMPENSATE is off (otherwise compensation follows).
        if saga.state == "failed":
            self.sagas_ended.labels(saga.name, "failed").inc()

    def on_saga_halted(self, sender: Any, saga: Any, **kwargs: Any) -> None:
        self.sagas_ended.labels(saga.name, "halted").inc()

    def on_saga_compensation_failed(self, sender: Any, saga: Any, **kwargs: Any) -> None:
        self.sagas_ended.labels(saga.name, "compensation_failed").inc()
        for step in saga.steps:
            if step.status == "compensation_failed":
                self._attempts(step, "compensate", step.compensation)
                self.steps.labels("compensate", step.compensation, "failed").inc()

    def on_step_completed(self, sender: Any, saga: Any, step: Any, **kwargs: Any) -> None:
        self._attempts(step, "execute", step.action)
        self.steps.labels("execute", step.action, "completed").inc()

    def on_step_failed(self, sender: Any, saga: Any, step: Any, **kwargs: Any) -> None:
        self._attempts(step, "execute", step.action)
        self.steps.labels("execute", step.action, "failed").inc()

    def on_step_skipped(self, sender: Any, saga: Any, step: Any, **kwargs: Any) -> None:
        self._attempts(step, "execute", step.action)
        self.steps.labels("execute", step.action, "skipped").inc()

    def on_step_compensated(self, sender: Any, saga: Any, step: Any, **kwargs: Any) -> None:
        if not step.compensation:
            return  # nothing ran: the step declared nothing to undo
        self._attempts(step, "compensate", step.compensation)
        self.steps.labels("compensate", step.compensation, "compensated").inc()

    def _attempts(self, step: Any, kind: str, action: str) -> None:
        """Observe each attempt of ``kind`` in the step's history, once."""
        for entry in _this_round(step.history, kind):
            outcome = str(entry.get("outcome", ""))
            duration = entry.get("duration_ms")
            if isinstance(duration, int | float):
                self.durations.labels(kind, action, outcome).observe(duration / 1000)
            if outcome == "retrying":
                self.retries.labels(kind, action).inc()


def _this_round(history: Any, kind: str) -> Iterator[dict[str, Any]]:
    """Entries of ``kind`` since an operator last resumed a compensation.

    Each round ends with exactly one signal, so counting only the current
    round counts every attempt once.
    """
    entries = [e for e in history if isinstance(e, dict) and e.get("kind") == kind]
    for index in range(len(entries) - 1, -1, -1):
        if entries[index].get("outcome") == "resumed":
            entries = entries[index + 1 :]
            break
    yield from entries


class StateCollector(Collector):
    """Gauges read at scrape time from the database and the broker."""

    def describe(self) -> Iterable[Any]:
        # Names only: registering must not touch the database.
        return [
            GaugeMetricFamily("django_saga_sagas", "", labels=["state"]),
            GaugeMetricFamily("django_saga_sagas_stale", ""),
            GaugeMetricFamily("django_saga_outbox_backlog", ""),
            GaugeMetricFamily("django_saga_outbox_oldest_seconds", ""),
            GaugeMetricFamily("django_saga_dead_letter_messages", ""),
            *(GaugeMetricFamily(name, "", labels=labels) for name, labels in gauges.FLOW),
        ]

    def collect(self) -> Iterable[Any]:
        try:
            yield from self._database()
            yield from gauges.flow()
        except DatabaseError as exc:
            logger.warning("Saga metrics: cannot read the database: %s", exc)
        yield from self._dead_letters()

    def _database(self) -> Iterator[Any]:
        from .models import OutboxMessage, Saga

        counts = dict.fromkeys(GAUGE_STATES, 0)
        rows = Saga.objects.in_state(*GAUGE_STATES).order_by().values("state")
        for row in rows.annotate(n=Count("pk")):
            counts[row["state"]] = row["n"]
        sagas = GaugeMetricFamily(
            "django_saga_sagas", "Sagas in a state that is not final, by state.", labels=["state"]
        )
        for state, n in counts.items():
            sagas.add_metric([state], n)
        stale = Saga.objects.stale(float(saga_settings.STALE_AFTER)).count()
        now = clock.now()
        due = OutboxMessage.objects.filter(sent_at__isnull=True, available_at__lte=now)
        backlog = due.aggregate(n=Count("pk"), oldest=Min("available_at"))
        oldest: timedelta = now - backlog["oldest"] if backlog["oldest"] else timedelta(0)
        yield sagas
        yield GaugeMetricFamily(
            "django_saga_sagas_stale",
            "Active sagas with no progress for STALE_AFTER seconds.",
            value=stale,
        )
        yield GaugeMetricFamily(
            "django_saga_outbox_backlog",
            "Unsent outbox messages whose publish time has come.",
            value=backlog["n"],
        )
        yield GaugeMetricFamily(
            "django_saga_outbox_oldest_seconds",
            "How long the oldest due outbox message has waited to be published.",
            value=max(oldest.total_seconds(), 0.0),
        )

    def _dead_letters(self) -> Iterator[Any]:
        from .errors import BrokerUnavailable
        from .transports import connect

        try:
            connection = connect(name="django-saga metrics")
        except BrokerUnavailable as exc:
            logger.warning("Saga metrics: cannot reach the broker: %s", exc)
            return
        try:
            depth = connection.queue_depth(saga_settings.DEAD_LETTER_QUEUE)
        except BrokerUnavailable as exc:
            # The queue is declared by the first engine; until then there is none.
            logger.debug("Saga metrics: no dead-letter queue to measure: %s", exc)
            return
        finally:
            connection.close()
        yield GaugeMetricFamily(
            "django_saga_dead_letter_messages",
            "Messages waiting in the dead-letter queue.",
            value=depth,
        )


_installed: SagaMetrics | None = None
_install_lock = threading.Lock()


def install() -> SagaMetrics:
    """Register the metrics on the default registry and connect the signals (once)."""
    global _installed
    if not AVAILABLE:
        raise ImproperlyConfigured(MISSING)
    with _install_lock:
        if _installed is None:
            installed = SagaMetrics(REGISTRY)
            installed.connect()
            _installed = installed
        return _installed


def exposition() -> tuple[bytes, str]:
    """The default registry in Prometheus text format, and its content type."""
    install()
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def bearer_matches(header: str) -> bool:
    """Whether an ``Authorization`` header carries ``SAGA['METRICS_TOKEN']``."""
    token = saga_settings.METRICS_TOKEN
    if not token or not isinstance(token, str) or not header.startswith("Bearer "):
        return False
    offered = header[len("Bearer ") :].encode(errors="replace")
    return hmac.compare_digest(offered, token.encode())


class _MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] not in ("/", "/metrics"):
            self.send_error(404, "Metrics are at /metrics")
            return
        if saga_settings.METRICS_TOKEN and not bearer_matches(
            self.headers.get("Authorization", "")
        ):
            # Refused before any query: an unauthenticated scrape costs nothing.
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="django-saga metrics"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            body, content_type = exposition()
        finally:
            # Each scrape runs on a new thread: never leave its connection open.
            connections.close_all()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics %s - %s", self.address_string(), format % args)


def serve(port: int, address: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve ``/metrics`` on ``address:port`` from a daemon thread; ``shutdown()`` stops it.

    Loopback by default: a scraper on another host needs ``address`` (and
    should need ``SAGA['METRICS_TOKEN']``, which is then asked of every request).
    """
    install()
    server = ThreadingHTTPServer((address, port), _MetricsHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="saga-metrics", daemon=True)
    thread.start()
    return server
