"""Bounded inputs at the doors of the console, the commands and re-drives.

The bounds themselves are tested beside their modules (``test_validation.py``
and the others named by module). What is left here asserts that a door owned
by another package (the console's pages and JSON API, the management
commands, ``actions.select`` and ``manager.redrive``) applies them: these
tests move when those packages' tests are laid out by module.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from django_saga import actions, manager
from django_saga.clock import MAX_SECONDS
from django_saga.errors import LimitExceeded
from django_saga.models import Intervention, Saga
from tests.unit.console.helpers import logged_in, make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/sagas/%00/", "/sagas/api/sagas/%00/", "/sagas/%00/compensate/"])
def test_a_nul_in_a_console_url_is_a_404_not_a_server_error(client, path):
    user = get_user_model().objects.create_superuser("root", password="pw")
    client.force_login(user)
    response = client.post(path) if path.endswith("compensate/") else client.get(path)
    assert response.status_code == 404


def test_a_redrive_older_than_a_million_days_gets_400_naming_the_field(django_user_model):
    from tests.unit.console.helpers import EVERYTHING, halted_saga, post_json

    halted_saga()
    client = logged_in(make_user(django_user_model, *EVERYTHING))
    body = {"rate": 1, "reason": "fixed", "older_than": "999999d"}
    response = post_json(client, reverse("django_saga:api-redrive"), body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("older_than '999999d' is over the limit")
    assert not Intervention.objects.exists()


@pytest.mark.parametrize(
    "command",
    [
        ("saga_purge", "--older-than", "999999d"),
        ("saga", "list", "--older-than", "999999d"),
        ("saga", "redrive", "--rate", "1/s", "--older-than", "999999d", "--reason", "r"),
    ],
    ids=["saga_purge", "saga-list", "saga-redrive"],
)
def test_commands_refuse_an_age_far_in_the_past_naming_the_option(command):
    with pytest.raises(CommandError, match="--older-than '999999d' is over the limit"):
        call_command(*command)


def test_a_redrive_selection_refuses_an_age_no_clock_can_subtract():
    with pytest.raises(LimitExceeded, match="older_than"):
        actions.select(older_than=timedelta(days=999999))


def test_a_rate_too_slow_to_schedule_is_refused_before_any_saga_is_retried():
    from tests.unit.console.helpers import halted_saga

    sagas = [halted_saga(), halted_saga()]
    for rate in (1e-15, 5e-324, 1 / (MAX_SECONDS * 2)):
        with pytest.raises(LimitExceeded, match=r"^rate must be at least 3.16e-08 sagas a second"):
            manager.redrive([saga.pk for saga in sagas], rate=rate, reason="fixed")
    assert not Intervention.objects.exists()
    assert {saga.state for saga in Saga.objects.all()} == {"halted"}


def test_a_redrive_whose_last_saga_would_be_sent_past_the_limit_is_refused_whole():
    from tests.unit.console.helpers import halted_saga

    ids = [halted_saga().pk for _ in range(3)]
    too_slow = 1.9 / MAX_SECONDS  # the third saga would go out after 385 days
    with pytest.raises(LimitExceeded, match=r"^rate .* would send the last of 3 sagas 385 days"):
        manager.redrive(iter(ids), rate=too_slow, reason="fixed")
    assert not Intervention.objects.exists()
    redrive = manager.redrive(iter(ids), rate=2.01 / MAX_SECONDS, reason="fixed")
    assert len(redrive.scheduled) == 3
    assert timedelta(days=364) < redrive.last_at - redrive.first_at <= timedelta(days=366)


def test_every_door_refuses_a_rate_too_slow_naming_it(django_user_model):
    from django_saga.console.forms import RateForm
    from django_saga.management.commands.saga import parse_rate
    from tests.unit.console.helpers import EVERYTHING, halted_saga, post_json

    halted_saga()
    client = logged_in(make_user(django_user_model, *EVERYTHING))
    body = {"rate": 1e-15, "reason": "fixed"}
    response = post_json(client, reverse("django_saga:api-redrive"), body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("rate must be at least")
    form = RateForm({"rate": "1e-15", "reason": "fixed"})
    assert not form.is_valid() and "at least" in form.errors["rate"][0]
    with pytest.raises(CommandError, match=r"--rate '0\.00000001/h'.*at least"):
        parse_rate("0.00000001/h")
    assert not Intervention.objects.exists()
