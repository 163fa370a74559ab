"""django_saga.console.tokens: API tokens made, stored hashed, checked and revoked,
and accepted by the JSON API (only) as their user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_saga import manager
from django_saga.console import tokens
from django_saga.errors import SagaDefinitionError
from django_saga.models import ApiToken, Intervention, OutboxMessage, Saga
from tests.unit.console.api_helpers import TOKEN_SHAPE, bearer, create_token, saga
from tests.unit.console.api_helpers import api_url as api
from tests.unit.console.helpers import VIEW, build_saga, logged_in, make_user
from tests.unit.helpers import STEERING


def state_of(saga: Saga) -> str:
    return Saga.objects.get(pk=saga.pk).state


@pytest.fixture
def operator(deployer):
    """The deployer of ``tests/unit/conftest.py``, whom these tests call the operator."""
    return deployer


# -- made and revoked ------------------------------------------------------------
@pytest.mark.django_db
def test_token_create_prints_the_token_alone_once_and_stores_only_a_hash(operator):
    out, err = saga("token", "create", "--user", "deployer", "--name", "deploy pipeline")
    plaintext = out.strip()
    assert out == plaintext + "\n"  # alone on stdout: TOKEN=$(manage.py saga token create ...)
    assert TOKEN_SHAPE.match(plaintext)
    [token] = ApiToken.objects.all()
    assert (token.user, token.name) == (operator, "deploy pipeline")
    assert f"Token {token.pk} (deploy pipeline) acts as deployer" in err
    assert "not shown again" in err
    # Neither the token nor its secret part is in any column of its row.
    secret = plaintext.split("_", 2)[2]  # the secret may hold "_" too
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table}")
        [row] = cursor.fetchall()
    stored = " ".join(str(value) for value in row)
    assert plaintext not in stored and secret not in stored
    # What is stored is enough to recognise it.
    assert Client().get(api(), headers=bearer(plaintext)).status_code == 200


@pytest.mark.django_db
def test_two_tokens_of_one_user_differ(operator):
    assert create_token("deployer") != create_token("deployer")


@pytest.mark.django_db
def test_token_revoke_refuses_the_token_from_then_on(operator):
    plaintext = create_token("deployer")
    client = Client()
    assert client.get(api(), headers=bearer(plaintext)).status_code == 200
    token = ApiToken.objects.get()
    out, _ = saga("token", "revoke", token.pk)
    assert out.strip() == (
        f"Token {token.pk} (deploys) of deployer revoked: requests with it are refused from now on."
    )
    refused = client.get(api(), headers=bearer(plaintext))
    assert refused.status_code == 401
    assert refused.json()["message"] == "This API token was revoked."
    # The row stays, saying when it was revoked.
    assert ApiToken.objects.get().revoked_at is not None


@pytest.mark.django_db
def test_a_tokens_name_is_trimmed_and_one_that_would_steer_a_terminal_is_refused(operator):
    made = tokens.create(operator, "  nightly report  ")
    assert ApiToken.objects.get(pk=made.token.pk).name == "nightly report"
    for name in ("deploys\x1b[2J", "deploys\u202e", "x" * (tokens.NAME_MAX_CHARS + 1)):
        with pytest.raises(SagaDefinitionError):
            tokens.create(operator, name)
    assert ApiToken.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "named"), STEERING)
def test_who_acts_is_refused_what_steers_a_terminal(text, named):
    saga = build_saga("failed")
    with pytest.raises(SagaDefinitionError, match=r"by \(who acts\) holds"):
        manager.compensate(saga.pk, by=text, reason="asked")
    with pytest.raises(SagaDefinitionError, match="A token's name holds"):
        tokens.create(None, text)  # type: ignore[arg-type]
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_revoking_twice_says_so_and_keeps_the_first_time(operator):
    made = tokens.create(operator, "deploys")
    assert tokens.revoke(made.token) is True
    first = ApiToken.objects.get().revoked_at
    assert tokens.revoke(ApiToken.objects.get()) is False
    assert ApiToken.objects.get().revoked_at == first


@pytest.mark.django_db
def test_authenticate_returns_the_tokens_user_and_reads_the_scheme_in_any_case(operator):
    made = tokens.create(operator, "deploys")
    assert tokens.authenticate(f"Bearer {made.plaintext}") == operator
    assert tokens.authenticate(f"bearer   {made.plaintext}  ") == operator
    with pytest.raises(tokens.InvalidToken, match="Malformed API token"):
        tokens.authenticate(f"Bearer {made.plaintext.upper()}")


@pytest.mark.parametrize(
    ("header", "bearer_scheme"),
    [
        ("Bearer dsg_x", True),
        ("BEARER dsg_x", True),
        ("Bearer", True),
        ("Basic dXNlcjpwdw==", False),
        ("Bearerdsg_x", False),
        ("", False),
    ],
)
def test_only_the_bearer_scheme_is_taken_for_a_token(header, bearer_scheme):
    assert tokens.is_bearer(header) is bearer_scheme


# -- what a token may do ------------------------------------------------------------
@pytest.mark.django_db
def test_a_token_acts_as_its_user_and_the_trail_names_them(operator, csrf_middleware):
    failed = build_saga("failed")
    plaintext = create_token("deployer")
    # No cookie, no CSRF token: the bearer token alone.
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        api(failed.pk, "compensate"),
        {"reason": "rolled back by the pipeline"},
        content_type="application/json",
        headers=bearer(plaintext),
    )
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "compensating"
    [entry] = Intervention.objects.filter(saga=failed)
    assert (entry.actor, entry.action, entry.reason) == (
        "deployer",
        "compensate",
        "rolled back by the pipeline",
    )
    assert response.json()["interventions"][0]["by"] == "deployer"
    # Django's admin log names the user too, as for an action from a session.
    assert LogEntry.objects.filter(user=operator, object_id=failed.pk).exists()


@pytest.mark.django_db
def test_a_token_has_its_users_permissions_and_no_more(django_user_model):
    failed = build_saga("failed")
    make_user(django_user_model, VIEW, name="viewer")
    make_user(django_user_model, VIEW, staff=False, name="outsider")
    viewer, outsider = create_token("viewer"), create_token("outsider")
    client = Client()
    assert client.get(api(failed.pk), headers=bearer(viewer)).status_code == 200
    denied = client.post(api(failed.pk, "compensate"), headers=bearer(viewer))
    assert denied.status_code == 403
    assert denied.json() == {
        "error": "permission_denied",
        "message": "You may not compensate sagas (needs django_saga.compensate_saga).",
    }
    barred = client.get(api(), headers=bearer(outsider))
    assert barred.status_code == 403
    assert barred.json()["message"] == "You may not use the saga console."
    assert state_of(failed) == "failed"
    assert not OutboxMessage.objects.filter(saga=failed).exists()


@pytest.mark.django_db
def test_a_token_follows_its_users_permissions_as_they_change(django_user_model):
    from django.contrib.auth.models import Permission

    failed = build_saga("failed")
    user = make_user(django_user_model, VIEW, name="viewer")
    plaintext = create_token("viewer")
    url = api(failed.pk, "compensate")
    why = {"reason": "the customer cancelled"}
    kwargs = {"content_type": "application/json", "headers": bearer(plaintext)}
    assert Client().post(url, why, **kwargs).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="compensate_saga"))
    assert Client().post(url, why, **kwargs).status_code == 202


@pytest.mark.django_db
def test_a_session_still_needs_its_csrf_token_whatever_other_authorization_it_sends(
    operator, csrf_middleware
):
    failed = build_saga("failed")
    client = logged_in(operator, enforce_csrf_checks=True)
    # A proxy's basic authentication is not a bearer token: the session decides.
    response = client.post(
        api(failed.pk, "compensate"), headers={"Authorization": "Basic dXNlcjpwdw=="}
    )
    assert response.status_code == 403 and response.json()["error"] == "csrf_failed"
    assert state_of(failed) == "failed"


# -- refusals ---------------------------------------------------------------------
def _wrong_secret(plaintext: str) -> str:
    dsg, prefix, secret = plaintext.split("_", 2)
    return f"{dsg}_{prefix}_{'A' if secret[0] != 'A' else 'B'}{secret[1:]}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer", "Malformed API token"),
        ("Bearer not-a-token", "Malformed API token"),
        ("bearer {token} extra", "Malformed API token"),
        ("Bearer {token}x", "Malformed API token"),
        ("Bearer dsg_0123456789ab_" + "a" * 43, "Unknown API token."),
        ("Bearer {wrong}", "Unknown API token."),
    ],
)
def test_a_bad_token_is_a_401_never_an_anonymous_or_session_request(operator, header, message):
    failed = build_saga("failed")
    plaintext = create_token("deployer")
    header = header.format(token=plaintext, wrong=_wrong_secret(plaintext))
    # Even a logged-in session does not stand in for a bad token.
    client = logged_in(operator)
    for response in (
        client.get(api(), headers={"Authorization": header}),
        client.post(api(failed.pk, "compensate"), headers={"Authorization": header}),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer ")
        body = response.json()
        assert body["error"] == "invalid_token" and body["message"].startswith(message)
    assert state_of(failed) == "failed"
    assert ApiToken.objects.get().last_used_at is None


@pytest.mark.django_db
def test_the_token_of_an_inactive_user_is_refused(operator):
    plaintext = create_token("deployer")
    operator.is_active = False
    operator.save()
    response = Client().get(api(), headers=bearer(plaintext))
    assert response.status_code == 401
    assert response.json()["message"] == "This API token's user is inactive."


@pytest.mark.django_db
def test_the_html_console_does_not_take_tokens(operator, settings):
    settings.LOGIN_URL = "/login/"
    failed = build_saga("failed")
    plaintext = create_token("deployer")
    client = Client()
    for url in (
        reverse("django_saga:dashboard"),
        reverse("django_saga:detail", args=[failed.pk]),
    ):
        response = client.get(url, headers=bearer(plaintext))
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    response = client.post(
        reverse("django_saga:compensate", args=[failed.pk]),
        {"reason": "x"},
        headers=bearer(plaintext),
    )
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert state_of(failed) == "failed"


# -- last use ---------------------------------------------------------------------
@pytest.mark.django_db
def test_a_tokens_last_use_is_recorded_at_most_once_a_minute(operator):
    plaintext = create_token("deployer")
    token = ApiToken.objects.get()
    assert token.last_used_at is None
    before = timezone.now()
    Client().get(api(), headers=bearer(plaintext))
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at >= before
    first = token.last_used_at
    Client().get(api(), headers=bearer(plaintext))
    token.refresh_from_db()
    assert token.last_used_at == first  # within the minute: not written again
    long_ago = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=long_ago)
    Client().get(api(), headers=bearer(plaintext))
    token.refresh_from_db()
    assert token.last_used_at > long_ago + timedelta(minutes=4)
    out, _ = saga("token", "list")
    assert timezone.localtime(token.last_used_at).strftime("%Y-%m-%d %H:%M:%S") in out
