"""``saga token create``, ``list`` and ``revoke``: API tokens made, listed and
revoked from a shell (the tokens themselves are tested in
``tests/unit/console/test_tokens.py``)."""

from __future__ import annotations

import re

import pytest
from django.core.management import CommandError
from django.test import Client

from django_saga.models import ApiToken
from tests.unit.console.api_helpers import api_url as api
from tests.unit.console.api_helpers import bearer, create_token, saga
from tests.unit.console.helpers import VIEW, make_user


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
    deployer, django_user_model, args, message
):
    retired = make_user(django_user_model, VIEW, name="retired")
    retired.is_active = False
    retired.save()
    with pytest.raises(CommandError) as info:
        saga("token", "create", *args)
    assert message in str(info.value)
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_token_list_shows_each_token_without_the_token_itself(deployer, django_user_model):
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
def test_token_revoke_takes_the_prefix_and_refuses_twice_or_unknown(deployer):
    plaintext = create_token("deployer")
    token = ApiToken.objects.get()
    saga("token", "revoke", f"dsg_{token.prefix}")
    assert Client().get(api(), headers=bearer(plaintext)).status_code == 401
    with pytest.raises(CommandError, match=f"Token {token.pk} \\(deploys\\) was revoked at "):
        saga("token", "revoke", token.pk)
    with pytest.raises(CommandError, match="No API token with id or prefix 'NOPE'"):
        saga("token", "revoke", "NOPE")
