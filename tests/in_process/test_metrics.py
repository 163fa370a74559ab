"""Prometheus metrics: counters fed by the signals, gauges read at scrape time."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY

from django_saga import Step, manager, metrics
from django_saga.models import OutboxMessage
from django_saga.transports import connect
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.unit.console.helpers import VIEW, build_saga, logged_in, make_user


@pytest.fixture
def installed():
    return metrics.install()


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


class Delta:
    """Counter values now, to compare with their values later."""

    def __init__(self, *series: tuple[str, dict[str, str]]) -> None:
        self.series = series
        self.before = [REGISTRY.get_sample_value(m, labels) or 0.0 for m, labels in series]

    def __call__(self) -> list[float]:
        return [
            (REGISTRY.get_sample_value(m, labels) or 0.0) - before
            for (m, labels), before in zip(self.series, self.before, strict=True)
        ]


def ended(name: str, state: str) -> tuple[str, dict[str, str]]:
    return "django_saga_sagas_ended_total", {"name": name, "state": state}


def steps(kind: str, action: str, outcome: str) -> tuple[str, dict[str, str]]:
    return "django_saga_steps_total", {"kind": kind, "action": action, "outcome": outcome}


def attempts(kind: str, action: str, outcome: str) -> tuple[str, dict[str, str]]:
    return "django_saga_step_duration_seconds_count", {
        "kind": kind,
        "action": action,
        "outcome": outcome,
    }


def retries(kind: str, action: str) -> tuple[str, dict[str, str]]:
    return "django_saga_step_retries_total", {"kind": kind, "action": action}


def unique() -> str:
    return f"metrics-{uuid.uuid4().hex[:8]}"


# -- counters ---------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_completed_saga_counts_its_steps_and_its_end(installed, run_engine):
    name = unique()
    delta = Delta(
        ended(name, "completed"),
        steps("execute", "test.record", "completed"),
        attempts("execute", "test.record", "completed"),
    )
    run_engine()
    saga = manager.start(name, [Step("a", "test.record", ""), Step("b", "test.record", "")])
    wait_terminal(saga.id)
    assert delta() == [1, 2, 2]


@pytest.mark.django_db(transaction=True)
def test_skipped_and_outside_completed_steps_are_counted(installed, run_engine):
    delta = Delta(
        steps("execute", "test.skip_unless", "skipped"),
        steps("execute", "test.pending", "completed"),
        attempts("execute", "test.pending", "waiting"),
    )
    run_engine()
    saga = manager.start(
        unique(),
        [Step("a", "test.skip_unless", "", {"flag": "off"}), Step("b", "test.pending", "")],
    )
    wait_for(lambda: manager.get(saga.id).step("b").status == "waiting", 10, "b to wait")
    manager.complete_step(saga.id, "b")
    assert wait_terminal(saga.id).state == "completed"
    assert delta() == [1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_retried_attempts_are_counted_with_their_durations(installed, run_engine):
    delta = Delta(
        retries("execute", "test.flaky"),
        attempts("execute", "test.flaky", "retrying"),
        attempts("execute", "test.flaky", "completed"),
    )
    run_engine()
    saga = manager.start(unique(), [Step("a", "test.flaky", "", {"fail_times": 2})])
    assert wait_terminal(saga.id).state == "completed"
    assert delta() == [2, 2, 1]


@pytest.mark.django_db(transaction=True)
def test_a_failure_counts_the_failed_step_and_the_compensations(installed, run_engine):
    name = unique()
    delta = Delta(
        steps("execute", "test.fail", "failed"),
        steps("compensate", "test.undo", "compensated"),
        ended(name, "compensated"),
        ended(name, "failed"),
    )
    run_engine()
    saga = manager.start(
        name,
        [Step("a", "test.record", "test.undo"), Step("b", "test.record", ""),
         Step("c", "test.fail", "")],
    )  # fmt: skip
    assert wait_terminal(saga.id).state == "compensated"
    # Step b had nothing to undo: no compensation ran for it, none is counted.
    assert delta() == [1, 1, 1, 0]


@pytest.mark.django_db(transaction=True)
def test_a_saga_left_failed_for_an_operator_counts_as_failed(installed, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    name = unique()
    delta = Delta(ended(name, "failed"), ended(name, "compensated"))
    run_engine()
    saga = manager.start(name, [Step("a", "test.record", "test.undo"), Step("b", "test.fail", "")])
    assert wait_terminal(saga.id).state == "failed"
    assert delta() == [1, 0]
    manager.compensate(saga.id)
    assert wait_terminal(saga.id).state == "compensated"
    assert delta() == [1, 1]


@pytest.mark.django_db(transaction=True)
def test_each_compensation_attempt_is_counted_once_across_retries(installed, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "COMPENSATION_MAX_ATTEMPTS": 1}
    name = unique()
    delta = Delta(
        ended(name, "compensation_failed"),
        steps("compensate", "test.undo_flaky", "failed"),
        steps("compensate", "test.undo_flaky", "compensated"),
        attempts("compensate", "test.undo_flaky", "failed"),
        attempts("compensate", "test.undo_flaky", "compensated"),
    )
    run_engine()
    saga = manager.start(
        name,
        [Step("a", "test.record", "test.undo_flaky", {"undo_fail_times": 2}),
         Step("b", "test.fail", "")],
    )  # fmt: skip
    assert wait_terminal(saga.id).state == "compensation_failed"
    assert delta() == [1, 1, 0, 1, 0]
    manager.retry_compensation(saga.id)
    assert wait_terminal(saga.id).state == "compensation_failed"
    assert delta() == [2, 2, 0, 2, 0]
    manager.retry_compensation(saga.id)
    assert wait_terminal(saga.id).state == "compensated"
    # Three attempts in all, each observed once (not again with every later round).
    assert delta() == [2, 2, 1, 2, 1]


# -- gauges -------------------------------------------------------------------
@pytest.mark.django_db
def test_gauges_count_waiting_and_stale_sagas(installed, settings):
    settings.SAGA = {**settings.SAGA, "STALE_AFTER": 3600}
    build_saga("failed")
    build_saga("failed")
    build_saga("compensation_failed")
    build_saga("started", updated_ago=timedelta(hours=2))
    build_saga("started")
    build_saga("completed")
    assert sample("django_saga_sagas", state="failed") == 2
    assert sample("django_saga_sagas", state="compensation_failed") == 1
    assert sample("django_saga_sagas", state="started") == 2
    assert sample("django_saga_sagas", state="compensating") == 0
    assert REGISTRY.get_sample_value("django_saga_sagas", {"state": "completed"}) is None
    assert sample("django_saga_sagas_stale") == 1


@pytest.mark.django_db
def test_outbox_backlog_counts_due_unsent_messages_and_the_oldest_wait(installed):
    saga = build_saga("started")
    now = timezone.now()

    def row(available: timedelta, sent: bool = False) -> None:
        OutboxMessage.objects.create(
            saga=saga,
            kind="execute",
            body="{}",
            available_at=now + available,
            sent_at=now if sent else None,
        )

    row(timedelta(seconds=-90))
    row(timedelta(seconds=-5))
    row(timedelta(seconds=60))  # a retry scheduled for later: not behind
    row(timedelta(seconds=-300), sent=True)
    assert sample("django_saga_outbox_backlog") == 2
    assert 90 <= sample("django_saga_outbox_oldest_seconds") < 120


@pytest.mark.django_db(transaction=True)
def test_dead_lettered_messages_are_counted(installed, run_engine):
    run_engine()
    assert sample("django_saga_dead_letter_messages") == 0
    from django_saga.conf import saga_settings

    connection = connect()
    try:
        connection.publish_raw(saga_settings.STEP_QUEUE, b"not json")  # type: ignore[attr-defined]
    finally:
        connection.close()
    wait_for(
        lambda: sample("django_saga_dead_letter_messages") == 1,
        what="the malformed message to be dead-lettered",
    )


@pytest.mark.django_db
def test_a_scrape_without_the_broker_still_reports_the_database_gauges(installed, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.SAGA = {**settings.SAGA, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{closed_port}/"}
    build_saga("failed")
    assert REGISTRY.get_sample_value("django_saga_dead_letter_messages") is None
    assert sample("django_saga_sagas", state="failed") == 1


# -- exposure ---------------------------------------------------------------------
@pytest.mark.django_db
def test_metrics_view_needs_console_access_or_the_token(client, django_user_model, settings):
    url = reverse("django_saga:metrics")
    assert client.get(url).status_code == 403
    assert client.get(url, headers={"Authorization": "Bearer s3cret"}).status_code == 403
    settings.SAGA = {**settings.SAGA, "METRICS_TOKEN": "s3cret"}
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 403
    scraped = client.get(url, headers={"Authorization": "Bearer s3cret"})
    assert scraped.status_code == 200
    assert scraped["Content-Type"].startswith("text/plain")
    assert "django_saga_outbox_backlog" in scraped.content.decode()
    as_operator = logged_in(make_user(django_user_model, VIEW)).get(url)
    assert as_operator.status_code == 200
    assert "# TYPE django_saga_sagas_ended_total counter" in as_operator.content.decode()


@pytest.mark.django_db
def test_metrics_view_says_how_to_install_the_extra(django_user_model, monkeypatch):
    monkeypatch.setattr(metrics, "AVAILABLE", False)
    response = logged_in(make_user(django_user_model, VIEW)).get(reverse("django_saga:metrics"))
    assert response.status_code == 501
    assert "django-saga[metrics]" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_serve_answers_on_metrics_only(installed):
    server = metrics.serve(0, "127.0.0.1")
    port = server.server_address[1]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            assert b"django_saga_outbox_backlog 0.0" in answer.read()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=10)
        missing.value.close()
        assert missing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
def test_engine_refuses_a_metrics_port_without_prometheus_client(monkeypatch):
    monkeypatch.setattr(metrics, "AVAILABLE", False)
    with pytest.raises(CommandError, match=r"django-saga\[metrics\]"):
        call_command("saga_engine", "--metrics-port", "0")


@pytest.mark.django_db
def test_engine_refuses_a_metrics_port_in_use():
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"Cannot serve metrics on 127.0.0.1:{port}"):
            call_command("saga_engine", "--metrics-port", str(port))


@pytest.mark.engine_process
@pytest.mark.django_db(transaction=True)
def test_saga_engine_serves_its_metrics_on_the_metrics_port(engine_process):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine_process({"BROKER_URL": f"memory://{uuid.uuid4().hex}"}, "--metrics-port", str(port))
    name = unique()
    # The engine's relay picks the first message up from the shared database.
    saga = manager.start(name, [Step("a", "test.record", "")])
    assert wait_terminal(saga.id, 30).state == "completed"

    def scraped() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            return answer.read().decode()

    line = f'django_saga_sagas_ended_total{{name="{name}",state="completed"}} 1.0'
    wait_for(lambda: line in scraped(), what="the engine to count the saga")
    assert "django_saga_outbox_backlog 0.0" in scraped()
