"""What the console's pages share: a page about one saga, messages, reloads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga.console.pages.common import refresh_interval
from tests.unit.console.helpers import build_saga, logged_in, state_of


@pytest.mark.django_db
def test_unknown_saga_is_404(operator):
    client = logged_in(operator)
    assert client.get(reverse("django_saga:detail", args=["NOPE"])).status_code == 404
    assert client.post(reverse("django_saga:compensate", args=["NOPE"])).status_code == 404


@pytest.mark.django_db
def test_an_action_goes_through_in_a_project_without_the_messages_framework(operator, settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if ".messages." not in m]
    saga = build_saga("failed")
    client = logged_in(operator)
    response = client.post(
        reverse("django_saga:compensate", args=[saga.pk]), {"reason": "ticket 12"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("django_saga:detail", args=[saga.pk])
    assert state_of(saga) == "compensating"
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(("setting", "seconds"), [(5, 5), (0.5, 0.5), (0, None)])
def test_pages_reload_every_console_refresh_seconds_or_never(settings, setting, seconds):
    settings.SAGA = {**settings.SAGA, "CONSOLE_REFRESH": setting}
    assert refresh_interval() == seconds
