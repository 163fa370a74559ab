"""What every part of ``manage.py saga`` shares: printing for an operator,
and finding a Django user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_saga.console.formatting import terminal_text


class OperatorCommand(BaseCommand):
    def say(self, text: str = "") -> None:
        """Print a line for the operator: what it quotes was stored by others, so
        every character a terminal would act on is shown as an escape."""
        self.stdout.write(terminal_text(text))

    def _django_user(self, username: str, active: bool = True) -> Any:
        model = get_user_model()
        try:
            user = model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            raise CommandError(f"--user {username!r}: no such Django user") from None
        if active and not user.is_active:
            raise CommandError(f"--user {username!r} is not an active user")
        return user

    @staticmethod
    def add_filters(parser: CommandParser, states: str) -> None:
        parser.add_argument(
            "--state",
            action="append",
            metavar="STATE",
            help=f"Only sagas in this state; repeat it or give a comma list. States: {states}.",
        )
        parser.add_argument("--name", help="Only sagas of this name.")
        parser.add_argument(
            "--error", metavar="TEXT", help="Only sagas whose error contains this (any case)."
        )
        parser.add_argument(
            "--older-than",
            metavar="AGE",
            help="Only sagas unchanged for at least this long: 90s, 15m, 12h, 30d.",
        )
