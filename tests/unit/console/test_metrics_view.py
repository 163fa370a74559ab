"""Prometheus exposition in the console: for whoever may use the console, or
a scraper holding ``METRICS_TOKEN``."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.unit.console.helpers import COMPENSATE, logged_in, make_user

TOKEN = "scraper-token-of-32-characters!!"

pytestmark = pytest.mark.django_db


def test_a_user_who_may_not_use_the_console_is_refused_in_plain_text(django_user_model):
    response = logged_in(make_user(django_user_model, COMPENSATE)).get(
        reverse("django_saga:metrics")
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "text/plain"
    assert response.content == b"Forbidden\n"


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        TOKEN,
    ],
    ids=["shorter", "longer", "basic-scheme", "no-scheme"],
)
def test_the_token_opens_the_metrics_only_whole_and_as_a_bearer(client, settings, header):
    settings.SAGA = {**settings.SAGA, "METRICS_TOKEN": TOKEN}
    url = reverse("django_saga:metrics")
    assert client.get(url, headers={"Authorization": header}).status_code == 403
    scraped = client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    assert b"# TYPE django_saga_sagas_ended_total counter" in scraped.content


def test_without_a_token_set_no_bearer_opens_the_metrics(client):
    url = reverse("django_saga:metrics")
    assert client.get(url, headers={"Authorization": "Bearer "}).status_code == 403
