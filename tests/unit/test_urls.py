"""django_saga.urls: the console's addresses, under one namespace and one include."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from django_saga.actions import ACTIONS
from django_saga.console.schedules import SCHEDULE_ACTS
from django_saga.models import SCHEDULE_NAME_MAX_CHARS
from django_saga.validation import NAME_MAX_CHARS
from tests.unit.console.helpers import VIEW, logged_in, make_user


# -- namespacing ----------------------------------------------------------
def test_urls_are_namespaced_under_one_include():
    assert reverse("django_saga:dashboard") == "/sagas/"
    assert reverse("django_saga:detail", args=["X"]) == "/sagas/X/"
    assert reverse("django_saga:compensate", args=["X"]) == "/sagas/X/compensate/"
    assert reverse("django_saga:api-detail", args=["X"]) == "/sagas/api/sagas/X/"
    assert reverse("django_saga:api-compensate", args=["X"]) == "/sagas/api/sagas/X/compensate/"
    assert reverse("django_saga:metrics") == "/sagas/metrics/"


# -- what an address may hold ---------------------------------------------
def test_an_id_no_saga_can_have_is_no_address():
    longest = "X" * 26
    assert resolve(f"/sagas/{longest}/").kwargs == {"saga_id": longest}
    for bad in ("X" * 27, "a\x00b"):
        with pytest.raises(Resolver404):
            resolve(f"/sagas/{bad}/")
        with pytest.raises(NoReverseMatch):
            reverse("django_saga:detail", args=[bad])


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/sagas/a%00b/", f"/sagas/{'X' * 27}/"])
def test_an_id_no_saga_can_have_is_a_404_on_every_database(django_user_model, path):
    """PostgreSQL refuses to compare a NUL with a text column: the converter
    answers 404 before a query could raise."""
    client = logged_in(make_user(django_user_model, VIEW))
    assert client.get(path).status_code == 404
    assert client.get(f"/sagas/api{path.removeprefix('/sagas')}").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/sagas/%00/", "/sagas/api/sagas/%00/", "/sagas/%00/compensate/"])
def test_a_nul_in_a_console_url_is_a_404_not_a_server_error(client, path):
    user = get_user_model().objects.create_superuser("root", password="pw")
    client.force_login(user)
    response = client.post(path) if path.endswith("compensate/") else client.get(path)
    assert response.status_code == 404


def test_a_step_is_named_in_the_api_by_a_name_as_long_as_a_step_may_have():
    longest = "s" * NAME_MAX_CHARS
    url = reverse("django_saga:api-retry-step", args=["X", longest])
    assert url == f"/sagas/api/sagas/X/steps/{longest}/retry/"
    assert resolve(url).kwargs == {"saga_id": "X", "step": longest}
    with pytest.raises(NoReverseMatch):
        reverse("django_saga:api-retry-step", args=["X", longest + "s"])


def test_every_action_has_its_json_endpoint_and_its_pages():
    for action in ACTIONS:
        if action.on_step:
            api = reverse(f"django_saga:api-{action.slug}", args=["X", "ship"])
            page = reverse(f"django_saga:{action.slug}", args=["X", "S1"])
            assert api == f"/sagas/api/sagas/X/steps/ship/{action.segment}/"
            assert page == f"/sagas/X/steps/S1/{action.slug}/"
            assert resolve(page).func.view_initkwargs["action"] is action
        else:
            api = reverse(f"django_saga:api-{action.slug}", args=["X"])
            confirm = reverse(f"django_saga:confirm-{action.slug}", args=["X"])
            assert api == f"/sagas/api/sagas/X/{action.segment}/"
            assert confirm == f"/sagas/X/{action.slug}/confirm/"
            assert resolve(confirm).func.view_initkwargs["action"] is action


# -- schedules ------------------------------------------------------------
def test_the_schedules_pages_and_each_action_have_their_addresses():
    assert reverse("django_saga:schedules") == "/sagas/schedules/"
    assert reverse("django_saga:schedule", args=["nightly"]) == "/sagas/schedules/nightly/"
    for act in SCHEDULE_ACTS:
        page = reverse(f"django_saga:schedule-{act.slug}", args=["nightly"])
        assert page == f"/sagas/schedules/nightly/{act.slug}/"
        assert resolve(page).func.view_initkwargs["act"] is act


def test_the_schedules_list_is_not_taken_for_a_saga():
    assert resolve("/sagas/schedules/").url_name == "schedules"


def test_a_name_no_schedule_can_have_is_no_address():
    longest = "n" * SCHEDULE_NAME_MAX_CHARS
    assert resolve(f"/sagas/schedules/{longest}/").kwargs == {"name": longest}
    for bad in (longest + "n", "a b", "a.b", "a\x00b"):
        with pytest.raises(Resolver404):
            resolve(f"/sagas/schedules/{bad}/")
        with pytest.raises(NoReverseMatch):
            reverse("django_saga:schedule", args=[bad])
