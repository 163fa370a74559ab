"""The API tokens' admin: a new token shown once, made for oneself unless a
superuser, for active users only, and revoked with an action."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from django_saga.models import ApiToken
from tests.unit.console.api_helpers import TOKEN_SHAPE, bearer, create_token, saga
from tests.unit.console.api_helpers import api_url as api
from tests.unit.console.helpers import logged_in, make_user

ADD_TOKEN = reverse("admin:django_saga_apitoken_add")
TOKENS = reverse("admin:django_saga_apitoken_changelist")


def _shown_token(response) -> str:
    match = re.search(
        r'id="api-token" readonly size="\d+" value="([^"]+)"', response.content.decode()
    )
    assert match is not None, response.content.decode()
    return match[1]


@pytest.mark.django_db
def test_the_admin_shows_a_new_token_once_and_never_again(admin_client, deployer):
    response = admin_client.post(ADD_TOKEN, {"user": deployer.pk, "name": "from the admin"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    plaintext = _shown_token(response)
    assert TOKEN_SHAPE.match(plaintext)
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (deployer, "from the admin")
    assert Client().get(api(), headers=bearer(plaintext)).status_code == 200
    secret = plaintext.split("_", 2)[2]  # the secret may hold "_" too
    for page in (TOKENS, reverse("admin:django_saga_apitoken_change", args=[token.pk])):
        html = admin_client.get(page).content.decode()
        assert f"dsg_{token.prefix}_" in html and secret not in html
    # Nor in the admin log.
    assert all(secret not in str(entry.change_message) for entry in LogEntry.objects.all())


@pytest.mark.django_db
def test_a_staff_user_makes_tokens_for_themselves_only(django_user_model, deployer):
    staff = make_user(
        django_user_model,
        "django_saga.add_apitoken",
        "django_saga.view_apitoken",
        "django_saga.change_apitoken",
        name="staff",
    )
    client = logged_in(staff)
    form = client.get(ADD_TOKEN).content.decode()
    assert 'name="user"' not in form
    # A user field posted anyway is ignored: a token acts as whoever made it.
    response = client.post(ADD_TOKEN, {"user": deployer.pk, "name": "mine"})
    assert response.status_code == 200
    assert ApiToken.objects.get().user == staff
    saga("token", "create", "--user", "deployer", "--name", "not theirs")
    listed = client.get(TOKENS).content.decode()
    assert "mine" in listed and "not theirs" not in listed


@pytest.mark.django_db
def test_the_admin_refuses_a_token_for_an_inactive_user(admin_client, deployer):
    deployer.is_active = False
    deployer.save()
    response = admin_client.post(ADD_TOKEN, {"user": deployer.pk, "name": "x"})
    assert "This user is inactive" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_the_admin_revokes_tokens_with_an_action(admin_client, deployer):
    plaintext = create_token("deployer")
    token = ApiToken.objects.get()
    response = admin_client.post(
        TOKENS,
        {"action": "revoke_tokens", "_selected_action": [token.pk], "index": 0},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["1 API token revoked: requests with it are refused from now on."]
    assert Client().get(api(), headers=bearer(plaintext)).status_code == 401
    assert LogEntry.objects.filter(object_id=token.pk, change_message="Revoked").exists()
