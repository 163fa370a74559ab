"""The API tokens of the console's JSON API: only a hash of each is kept."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .ids import SAGA_ID_MAX_CHARS, new_id


class ApiToken(models.Model):
    """A bearer token for the console's JSON API: whoever holds it acts as ``user``.

    Only a hash of the token is kept: the token itself is shown once, when it
    is made, and cannot be read back. ``prefix`` (part of the token, not
    secret) finds the row; the rest is checked against ``digest``. A revoked
    token keeps its row, so that the list still says when it was last used.
    """

    id = models.CharField(
        "id", primary_key=True, max_length=SAGA_ID_MAX_CHARS, default=new_id, editable=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="saga_api_tokens",
        verbose_name="user",
        help_text="Requests with the token act as this user, with this user's permissions.",
    )
    name = models.CharField(
        "name", max_length=100, help_text="What the token is for, e.g. 'deploy pipeline'."
    )
    prefix = models.CharField(
        "prefix",
        max_length=16,
        unique=True,
        editable=False,
        help_text="The start of the token, to tell tokens apart; not a secret.",
    )
    digest = models.CharField("SHA-256 of the token", max_length=64, editable=False)
    created_at = models.DateTimeField("created", auto_now_add=True)
    last_used_at = models.DateTimeField(
        "last used",
        null=True,
        blank=True,
        editable=False,
        help_text="When a request last used it (to the minute).",
    )
    revoked_at = models.DateTimeField(
        "revoked",
        null=True,
        blank=True,
        editable=False,
        help_text="When it was revoked: from then on every request with it is refused.",
    )

    class Meta:
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
