"""django_saga.metrics: the Prometheus counters, the gauges and the engine's metrics port."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from django_saga import metrics

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
