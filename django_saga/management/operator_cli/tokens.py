"""``token create``, ``token list`` and ``token revoke``: the JSON API's bearer tokens."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q

from django_saga import validation
from django_saga.console import tokens
from django_saga.console.formatting import terminal_text
from django_saga.models import ApiToken

from .base import OperatorCommand
from .text import one_line, table, when


def token_json(token: ApiToken) -> dict[str, Any]:
    """An API token as ``token list --json`` prints it: never the token itself."""
    return {
        "id": token.pk,
        "prefix": token.prefix,
        "user": token.user.get_username(),
        "name": token.name,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


class Tokens(OperatorCommand):
    """The token subcommands."""

    def add_token_commands(self, commands: Any) -> None:
        token = commands.add_parser(
            "token", help="Bearer tokens for the console's JSON API: create, list, revoke."
        )
        token_commands = token.add_subparsers(
            dest="token_command", required=True, metavar="TOKEN_COMMAND"
        )
        create = token_commands.add_parser(
            "create",
            help="A new token acting as a Django user; printed once, never shown again.",
        )
        create.add_argument(
            "--user", metavar="USERNAME", required=True, help="The Django user it acts as."
        )
        create.add_argument(
            "--name", metavar="LABEL", required=True, help="What it is for, e.g. 'deploys'."
        )
        token_list = token_commands.add_parser(
            "list", help="Tokens, the newest first: never the tokens themselves."
        )
        token_list.add_argument("--user", metavar="USERNAME", help="Only this user's tokens.")
        token_list.add_argument("--active", action="store_true", help="Only tokens not revoked.")
        token_list.add_argument("--json", action="store_true", help="One JSON object a line.")
        revoke = token_commands.add_parser(
            "revoke", help="Refuse every later request with a token."
        )
        revoke.add_argument("token_id", metavar="ID", help="The token's id (or its prefix).")
        token.set_defaults(run=self.token)

    def token(self, options: dict[str, Any]) -> None:
        {
            "create": self.create_token,
            "list": self.list_tokens,
            "revoke": self.revoke_token,
        }[options["token_command"]](options)

    def create_token(self, options: dict[str, Any]) -> None:
        user = self._django_user(options["user"])
        new = tokens.create(user, options["name"])
        # The token alone on stdout, for `TOKEN=$(manage.py saga token create ...)`.
        self.stdout.write(new.plaintext)
        self.stderr.write(
            terminal_text(
                f"Token {new.token.pk} ({new.token.name}) acts as {user.get_username()}. "
                "Copy it now: it is not shown again, and only its hash is kept."
            ),
            style_func=lambda text: text,
        )

    def list_tokens(self, options: dict[str, Any]) -> None:
        queryset = ApiToken.objects.select_related("user").order_by("-pk")
        if options["user"] is not None:
            queryset = queryset.filter(user=self._django_user(options["user"], active=False))
        if options["active"]:
            queryset = queryset.filter(revoked_at__isnull=True)
        found = list(queryset)
        if options["json"]:
            for token in found:
                self.stdout.write(json.dumps(token_json(token), cls=DjangoJSONEncoder))
            return
        if not found:
            self.say("No API token.")
            return
        rows = [
            (
                token.pk,
                f"{tokens.TOKEN_PREFIX}{token.prefix}_...",
                token.user.get_username(),
                one_line(token.name, 40),
                when(token.created_at),
                when(token.last_used_at),
                f"revoked {when(token.revoked_at)}" if token.revoked_at else "active",
            )
            for token in found
        ]
        headers = ("ID", "PREFIX", "USER", "NAME", "CREATED", "LAST USED", "STATUS")
        for line in table(headers, rows):
            self.say(line)

    def revoke_token(self, options: dict[str, Any]) -> None:
        given = validation.text(options["token_id"], "ID", 200).strip()
        if given.startswith(tokens.TOKEN_PREFIX):
            given = given[len(tokens.TOKEN_PREFIX) :].split("_", 1)[0]
        token = (
            ApiToken.objects.select_related("user").filter(Q(pk=given) | Q(prefix=given)).first()
        )
        if token is None:
            raise CommandError(f"No API token with id or prefix {given!r}: see `saga token list`")
        if not tokens.revoke(token):
            raise CommandError(
                f"Token {token.pk} ({token.name}) was revoked at {when(token.revoked_at)}"
            )
        self.say(
            f"Token {token.pk} ({token.name}) of {token.user.get_username()} revoked: "
            "requests with it are refused from now on."
        )
