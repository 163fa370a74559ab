"""API tokens at the command line and in the admin.

What is left here is about the doors that make, list and revoke tokens, not
about the tokens themselves (``tests/unit/console/test_tokens.py``): the
``saga token`` subcommands (``django_saga/management/operator_cli/tokens.py``)
and the tokens' admin (``django_saga/admin/tokens.py``).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError
from django.test import Client
from django.urls import reverse

from django_saga.models import ApiToken
from tests.unit.console.api_helpers import bearer, create_token, saga
from tests.unit.console.helpers import COMPENSATE, VIEW, logged_in, make_user
from tests.unit.console.test_tokens import TOKEN_SHAPE, api

ADD_TOKEN = reverse("admin:django_saga_apitoken_add")


TOKENS = reverse("admin:django_saga_apitoken_changelist")


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, VIEW, COMPENSATE, name="deployer")


# -- the command line -------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--user", "nobody", "--name", "x"), "--user 'nobody': no such Django user"),
        (("--user", "retired", "--name", "x"), "--user 'retired' is not an active user"),
        (("--user", "deployer", "--name", "  "), "A token's name must be a non-empty string"),
    ],
)
def test_token_create_refuses_an_unknown_or_inactive_user_and_a_blank_name(
    operator, django_user_model, args, message
):
    retired = make_user(django_user_model, VIEW, name="retired")
    retired.is_active = False
    retired.save()
    with pytest.raises(CommandError) as info:
        saga("token", "create", *args)
    assert message in str(info.value)
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_token_list_shows_each_token_without_the_token_itself(operator, django_user_model):
    make_user(django_user_model, VIEW, name="auditor")
    first = create_token("deployer", "deploys")
    second = create_token("auditor", "nightly report")
    saga("token", "revoke", ApiToken.objects.get(name="deploys").pk)
    out, _ = saga("token", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "PREFIX", "USER", "NAME", "CREATED", "LAST", "USED", "STATUS"]
    newest, oldest = ApiToken.objects.order_by("-pk")
    assert lines[1].startswith(f"{newest.pk}  dsg_{newest.prefix}_...  auditor   nightly report")
    assert lines[1].endswith("active")
    assert lines[2].startswith(f"{oldest.pk}  dsg_{oldest.prefix}_...  deployer  deploys")
    assert re.search(r"revoked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", lines[2])
    assert first not in out and second not in out
    only, _ = saga("token", "list", "--user", "deployer", "--json")
    [row] = only.splitlines()
    assert '"name": "deploys"' in row and '"user": "deployer"' in row and first not in row
    active, _ = saga("token", "list", "--active")
    assert "nightly report" in active and "deploys" not in active


@pytest.mark.django_db
def test_token_revoke_takes_the_prefix_and_refuses_twice_or_unknown(operator):
    plaintext = create_token("deployer")
    token = ApiToken.objects.get()
    saga("token", "revoke", f"dsg_{token.prefix}")
    assert Client().get(api(), headers=bearer(plaintext)).status_code == 401
    with pytest.raises(CommandError, match=f"Token {token.pk} \\(deploys\\) was revoked at "):
        saga("token", "revoke", token.pk)
    with pytest.raises(CommandError, match="No API token with id or prefix 'NOPE'"):
        saga("token", "revoke", "NOPE")


# -- the admin --------------------------------------------------------------------
def _shown_token(response) -> str:
    match = re.search(
        r'id="api-token" readonly size="\d+" value="([^"]+)"', response.content.decode()
    )
    assert match is not None, response.content.decode()
    return match[1]


@pytest.mark.django_db
def test_the_admin_shows_a_new_token_once_and_never_again(admin_client, operator):
    response = admin_client.post(ADD_TOKEN, {"user": operator.pk, "name": "from the admin"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    plaintext = _shown_token(response)
    assert TOKEN_SHAPE.match(plaintext)
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (operator, "from the admin")
    assert Client().get(api(), headers=bearer(plaintext)).status_code == 200
    secret = plaintext.split("_", 2)[2]  # the secret may hold "_" too
    for page in (TOKENS, reverse("admin:django_saga_apitoken_change", args=[token.pk])):
        html = admin_client.get(page).content.decode()
        assert f"dsg_{token.prefix}_" in html and secret not in html
    # Nor in the admin log.
    assert all(secret not in str(entry.change_message) for entry in LogEntry.objects.all())


@pytest.mark.django_db
def test_a_staff_user_makes_tokens_for_themselves_only(django_user_model, operator):
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
    response = client.post(ADD_TOKEN, {"user": operator.pk, "name": "mine"})
    assert response.status_code == 200
    assert ApiToken.objects.get().user == staff
    saga("token", "create", "--user", "deployer", "--name", "not theirs")
    listed = client.get(TOKENS).content.decode()
    assert "mine" in listed and "not theirs" not in listed


@pytest.mark.django_db
def test_the_admin_refuses_a_token_for_an_inactive_user(admin_client, operator):
    operator.is_active = False
    operator.save()
    response = admin_client.post(ADD_TOKEN, {"user": operator.pk, "name": "x"})
    assert "This user is inactive" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_the_admin_revokes_tokens_with_an_action(admin_client, operator):
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
