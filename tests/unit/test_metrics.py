"""django_saga.metrics: the Prometheus counters, the gauges and the engine's metrics port."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from django_saga import metrics
from django_saga.models import Saga, SagaStep

pytestmark = pytest.mark.django_db


def fetch(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        refused.close()
        return refused.code


@pytest.mark.django_db(transaction=True)
def test_the_metrics_port_listens_on_loopback_and_asks_for_the_token(settings):
    metrics.install()
    server = metrics.serve(0)
    host, port = server.server_address[:2]
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        assert host == "127.0.0.1"
        assert fetch(url) == 200  # no token set: loopback only, open there
        settings.SAGA = {**settings.SAGA, "METRICS_TOKEN": "scrape-token"}
        assert fetch(url) == 401
        assert fetch(url, "wrong") == 401
        assert fetch(url, "scrape-token") == 200
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def counters() -> metrics.SagaMetrics:
    """The counters on a registry of their own, fed by calling the receivers."""
    return metrics.SagaMetrics(CollectorRegistry())


def value(counters: metrics.SagaMetrics, series: str, **labels: str) -> float:
    return counters.registry.get_sample_value(series, labels) or 0.0


def test_a_step_counts_its_outcome_each_attempts_duration_and_its_retries(counters):
    history = [
        {"kind": "execute", "attempt": 1, "outcome": "retrying", "duration_ms": 2000},
        {"kind": "execute", "attempt": 2, "outcome": "completed", "duration_ms": 40},
    ]
    step = SagaStep(name="pay", action="payment.charge", history=history)
    counters.on_step_completed(None, saga=None, step=step)
    labels = {"kind": "execute", "action": "payment.charge"}
    assert value(counters, "django_saga_steps_total", outcome="completed", **labels) == 1
    assert value(counters, "django_saga_step_retries_total", **labels) == 1
    durations = "django_saga_step_duration_seconds"
    assert value(counters, f"{durations}_count", outcome="retrying", **labels) == 1
    assert value(counters, f"{durations}_sum", outcome="retrying", **labels) == 2.0
    assert value(counters, f"{durations}_bucket", outcome="completed", le="0.05", **labels) == 1


def test_compensation_attempts_are_counted_from_the_last_resume_only(counters):
    """Each round of a compensation ends with one signal: earlier rounds were counted."""
    history = [
        {"kind": "compensate", "attempt": 1, "outcome": "retrying", "duration_ms": 5},
        {"kind": "compensate", "attempt": 2, "outcome": "failed", "duration_ms": 5},
        {"kind": "compensate", "outcome": "resumed"},
        {"kind": "compensate", "attempt": 3, "outcome": "compensated", "duration_ms": 5},
    ]
    step = SagaStep(name="pay", action="payment.charge", compensation="payment.refund")
    step.history = history
    counters.on_step_compensated(None, saga=None, step=step)
    labels = {"kind": "compensate", "action": "payment.refund"}
    assert value(counters, "django_saga_step_retries_total", **labels) == 0
    assert value(counters, "django_saga_steps_total", outcome="compensated", **labels) == 1
    counters.on_step_compensated(None, saga=None, step=SagaStep(name="log", action="log.write"))
    assert value(counters, "django_saga_steps_total", outcome="compensated", **labels) == 1


def test_a_failed_step_ends_a_saga_only_when_no_compensation_follows(counters):
    counters.on_saga_failed(None, saga=Saga(name="order", state="compensating"))
    assert value(counters, "django_saga_sagas_ended_total", name="order", state="failed") == 0
    counters.on_saga_failed(None, saga=Saga(name="order", state="failed"))
    counters.on_saga_halted(None, saga=Saga(name="order", state="halted"))
    assert value(counters, "django_saga_sagas_ended_total", name="order", state="failed") == 1
    assert value(counters, "django_saga_sagas_ended_total", name="order", state="halted") == 1


def test_the_bearer_token_must_match_the_setting_exactly(settings):
    assert not metrics.bearer_matches("Bearer anything")  # no token set: none matches
    settings.SAGA = {**settings.SAGA, "METRICS_TOKEN": "scrape-token"}
    assert metrics.bearer_matches("Bearer scrape-token")
    for header in ("Bearer scrape-tokenX", "bearer scrape-token", "scrape-token", "Bearer ", ""):
        assert not metrics.bearer_matches(header), header
    assert not metrics.bearer_matches("Bearer scrape-tökén")


@pytest.mark.django_db
def test_schedule_ticks_are_counted_by_outcome_once_committed(counters, settings):
    from datetime import timedelta

    from django_saga import manager
    from django_saga.schedules.ticking import tick_due
    from django_saga.testing import SagaTestKit
    from tests.unit.schedules.helpers import START, make

    counters.connect()
    settings.SAGA = {**settings.SAGA, "SCHEDULE_LATE_AFTER": 60}
    with SagaTestKit(START) as kit:
        make(cron="0 * * * *", missed="latest")
        kit.clock.time = START + timedelta(hours=3)  # 10:00 and 11:00 missed; 12:00 late
        with kit.committed():
            tick_due("default", manager)
            started = {"schedule": "report", "outcome": "started"}
            # Nothing is counted before the commit.
            assert value(counters, "django_saga_schedule_ticks_total", **started) == 0
    ticks = {
        outcome: value(
            counters, "django_saga_schedule_ticks_total", schedule="report", outcome=outcome
        )
        for outcome in ("started", "skipped", "late", "failed")
    }
    assert ticks == {"started": 1, "skipped": 2, "late": 1, "failed": 0}
