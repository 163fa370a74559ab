"""What ``manage.py saga`` reads from its command line: rates, ages, JSON
objects, counts, states, and who acts."""

from __future__ import annotations

import argparse
import getpass
import re
import socket
from collections.abc import Callable, Sequence
from datetime import timedelta

from django.core.management.base import CommandError

from django_saga import actions, validation
from django_saga.console.parsing import UnreadableJSON, read_json
from django_saga.errors import SagaDefinitionError

_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*([smh]))?\s*$")
_PER = {"s": 1, "m": 60, "h": 3600}


def parse_rate(text: str) -> float:
    """``5/s``, ``5``, ``0.5/s``, ``30/m`` or ``600/h`` as sagas a second."""
    match = _RATE.match(text)
    if match is None:
        raise CommandError(
            f"--rate {text!r} is not a rate: give sagas a second or a minute, "
            "for example 5/s, 0.5/s, 5 or 30/m"
        )
    number, unit = match.groups()
    try:
        return actions.rate_value(float(number) / _PER[unit or "s"])
    except SagaDefinitionError as exc:
        raise CommandError(f"--rate {text!r}: {exc}") from None


def parse_age(text: str | None, option: str) -> timedelta | None:
    if text is None:
        return None
    try:
        return validation.age(text, option)
    except SagaDefinitionError as exc:
        raise CommandError(str(exc)) from None


def parse_json(text: str | None, option: str) -> dict | None:
    """An input or output given on the command line: a JSON object, or ``@FILE`` holding one."""
    if text is None:
        return None
    source: str | bytes = text
    if text.startswith("@"):
        try:
            with open(text[1:], "rb") as file:
                source = file.read()
        except OSError as exc:
            raise CommandError(f"{option}: cannot read {text[1:]}: {exc.strerror}") from None
    try:
        value = read_json(source, option)
    except UnreadableJSON as exc:
        raise CommandError(str(exc)) from None
    if not isinstance(value, dict):
        raise CommandError(
            f"{option} must be a JSON object, like '{{\"ok\": true}}'; got {type(value).__name__}"
        )
    return value


def how_many(maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number of sagas from 1 (to ``maximum``).

    argparse names the option when it refuses one.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < 1 or (maximum is not None and value > maximum):
            most = f" to {maximum:,}" if maximum is not None else " or more"
            raise argparse.ArgumentTypeError(f"give 1{most}, not {value}")
        return value

    return parse


def parse_states(values: Sequence[str] | None, allowed: Sequence[str], what: str) -> list[str]:
    """``--state`` given once or more, each a state or a comma list of them."""
    states = [s.strip() for value in values or () for s in value.split(",") if s.strip()]
    wrong = [s for s in states if s not in allowed]
    if wrong:
        raise CommandError(
            f"--state {', '.join(map(repr, wrong))}: {what} are {', '.join(allowed)}"
        )
    return list(dict.fromkeys(states))


#: The longest ``--by``: with its mark, it fills the trail's 200 characters.
BY_MAX_CHARS = 170


def named_on_command_line(name: str) -> str:
    """``--by``'s name as the trail keeps it: marked, so that it is never taken
    for the Django user of that name (``--user`` acts as one)."""
    return f"{name} (named on the command line)"


def default_actor() -> str:
    """Who runs the command, as the trail names them: ``alice@web-1 (command line)``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # the process's uid has no name
        user = "unknown"
    return f"{user}@{socket.gethostname()} (command line)"[:200]
