"""``manage.py saga``: find, read and repair sagas from a server's shell, without a browser.

``list`` and ``show`` read; each operator action of ``django_saga.actions``
(``compensate``, ``retry-step`` ...: one subcommand each, made from its
declaration) and ``redrive`` act, each through the manager:
refused, recorded on the saga's trail and attributed (``--by``, ``--user``)
exactly as from the admin or the console. Every action asks for a reason. A
refusal is a ``CommandError`` with the manager's sentence: exit status 1.
``schedule list``, ``schedule pause``, ``schedule resume`` and ``schedule run``
act on schedules, recorded on each schedule's trail. ``flow list``, ``flow
pause`` and ``flow resume`` show the actions' limits and pause actions or
saga names, each pause its own trail. ``task list``, ``task show`` and
``task claim|release|delegate|complete|reject`` answer a user's tasks as
that user (``--user``).
``token create``, ``token list`` and ``token revoke`` manage the JSON API's
bearer tokens. The subcommands live in ``django_saga.management.operator_cli``.

What the text output quotes (names, keys, errors, attempts, the trail) was
stored by others, an outside service's error among it: every control
character and bidi override in it is printed as an escape (``\\x1b``,
``\\u202e``), never as itself. ``--json`` is plain ASCII: JSON escapes them.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_saga.actions import ACTIONS
from django_saga.console.formatting import terminal_text
from django_saga.errors import (
    InvalidStateTransition,
    SagaDefinitionError,
    SagaNotFound,
    TaskNotAllowed,
)
from django_saga.management.operator_cli.flow import Flow
from django_saga.management.operator_cli.options import default_actor, parse_rate
from django_saga.management.operator_cli.reading import Reading
from django_saga.management.operator_cli.schedules import Schedules
from django_saga.management.operator_cli.tasks import Tasks
from django_saga.management.operator_cli.tokens import Tokens

__all__ = ["Command", "default_actor", "parse_rate"]


class Command(Reading, Schedules, Flow, Tasks, Tokens):
    help = (
        "Find, read and repair sagas: list, show, "
        + ", ".join(action.slug for action in ACTIONS)
        + ", redrive. Each action needs --reason and is recorded on the saga's trail. "
        "`schedule` lists, pauses, resumes and runs schedules. "
        "`flow` lists the actions' limits and pauses or resumes actions and saga names. "
        "`task` lists, shows and answers a user's tasks, as that user. "
        "`token` makes, lists and revokes the JSON API's tokens. "
        "`manage.py saga COMMAND --help` tells more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        self.add_reading_commands(commands)
        self.add_acting_commands(commands)
        self.add_schedule_commands(commands)
        self.add_flow_commands(commands)
        self.add_task_commands(commands)
        self.add_token_commands(commands)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            options["run"](options)
        except (SagaNotFound, InvalidStateTransition, SagaDefinitionError, TaskNotAllowed) as exc:
            raise CommandError(terminal_text(exc)) from None
        except CommandError as exc:
            # Its sentence may quote stored text: a saga's or a token's name.
            raise CommandError(terminal_text(exc), returncode=exc.returncode) from None
