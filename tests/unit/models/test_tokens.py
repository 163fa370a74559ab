"""The JSON API's token rows: how one reads, and when it counts as revoked."""

from __future__ import annotations

from django.utils import timezone

from django_saga.models import ApiToken


def test_str_shows_the_name_and_the_prefix_never_more():
    token = ApiToken(name="deploy pipeline", prefix="sgt_1a2b", digest="f" * 64)
    assert str(token) == "deploy pipeline (sgt_1a2b…)"
    assert token.digest not in str(token)


def test_a_token_is_revoked_once_it_has_a_revocation_time():
    token = ApiToken(name="ci", prefix="sgt_ffff")
    assert not token.is_revoked
    token.revoked_at = timezone.now()
    assert token.is_revoked
