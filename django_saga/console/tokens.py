"""Bearer tokens for the JSON API: made, checked and revoked here, stored hashed.

A token reads ``dsg_<prefix>_<secret>``: twelve hex characters that find its
row (not secret, shown in lists) and 43 random URL-safe characters. Only the
SHA-256 of the whole token is stored. A random secret of 256 bits needs no
salt or slow hash: nobody can guess it, so the digest only has to keep a copy
of the database from serving as a list of tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q

from .. import clock, validation
from ..models import ApiToken

#: What every token starts with, so that it is recognised (in a leak scan, say).
TOKEN_PREFIX = "dsg_"
#: Hex characters of the lookup part.
PREFIX_CHARS = 12
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}([0-9a-f]{{{PREFIX_CHARS}}})_([A-Za-z0-9_-]{{43}})$")
#: A token's last use is written at most this often: not once per request.
LAST_USED_EVERY = timedelta(minutes=1)
#: The longest name a token may have.
NAME_MAX_CHARS = 100


class InvalidToken(Exception):
    """A bearer token the API refuses; the message says why, for the caller."""


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``plaintext`` exists only here, never in the database."""

    token: ApiToken
    plaintext: str


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create(user: Any, name: str) -> NewToken:
    """A new token acting as ``user``; its plaintext is returned once, never stored."""
    token = ApiToken(user=user, name=name)
    return NewToken(token, issue(token))


def issue(token: ApiToken) -> str:
    """Give an unsaved ``token`` (its user and name set) a secret, and save it.

    Returns the plaintext: the only copy there will ever be.
    """
    token.name = validation.text(
        token.name, "A token's name", NAME_MAX_CHARS, plain=validation.LABEL
    ).strip()
    while True:
        prefix = secrets.token_hex(PREFIX_CHARS // 2)
        if not ApiToken.objects.filter(prefix=prefix).exists():
            break
    plaintext = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token.prefix = prefix
    token.digest = digest(plaintext)
    token.save(force_insert=True)
    return plaintext


def revoke(token: ApiToken) -> bool:
    """Refuse every later request with ``token``; False if it was revoked already."""
    now = clock.now()
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    if changed:
        token.revoked_at = now
    return bool(changed)


def authenticate(header: str) -> Any:
    """The active user whose token ``header`` (``Bearer <token>``) carries.

    Raises ``InvalidToken`` saying why for a malformed, unknown or revoked
    token, or one whose user is inactive. Records the token's use, at most
    once per ``LAST_USED_EVERY``.
    """
    _, _, credentials = header.partition(" ")
    plaintext = credentials.strip()
    match = _TOKEN.match(plaintext)
    if match is None:
        raise InvalidToken(
            "Malformed API token: send 'Authorization: Bearer dsg_...' with the token "
            "exactly as it was printed when it was made."
        )
    token = ApiToken.objects.select_related("user").filter(prefix=match[1]).first()
    if token is None or not hmac.compare_digest(token.digest, digest(plaintext)):
        raise InvalidToken("Unknown API token.")
    if token.revoked_at is not None:
        raise InvalidToken("This API token was revoked.")
    if not token.user.is_active:
        raise InvalidToken("This API token's user is inactive.")
    _record_use(token)
    return token.user


def _record_use(token: ApiToken) -> None:
    now = clock.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return
    # One conditional write: of concurrent requests, at most one updates the row.
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY), pk=token.pk
    ).update(last_used_at=now)


def is_bearer(header: str) -> bool:
    """Whether an ``Authorization`` header uses the Bearer scheme (any case)."""
    return header.split(" ", 1)[0].lower() == "bearer"
