"""``flow list``, ``flow pause`` and ``flow resume``: the limits handlers
declare, and pauses of actions and saga names, from a server's shell,
through the manager, attributed and explained as from the console."""

from __future__ import annotations

from typing import Any

from django_saga.actions.pauses import PAUSE_PERMISSION
from django_saga.api import manager
from django_saga.registry import LABELS, registry

from .acting import Acting
from .text import one_line, table, when


class Flow(Acting):
    """The flow subcommands."""

    def add_flow_commands(self, commands: Any) -> None:
        parser = commands.add_parser(
            "flow", help="Flow control: the actions' limits; pause and resume actions or names."
        )
        chosen = parser.add_subparsers(dest="flow_command", required=True, metavar="FLOW_COMMAND")
        chosen.add_parser("list", help="The limits handlers declare, and the pauses in force.")
        for name, help_text in (
            ("pause", "Hold every run of the matching actions, or sagas of the matching names."),
            ("resume", "End a pause: what it held is sent again, under the actions' limits."),
        ):
            command = chosen.add_parser(name, help=help_text)
            subject = command.add_mutually_exclusive_group(required=True)
            subject.add_argument(
                "--action", metavar="PATTERN", help="An action name; * matches any characters."
            )
            subject.add_argument(
                "--name", metavar="PATTERN", help="A saga name; * matches any characters."
            )
            self.add_actor(command)
        parser.set_defaults(run=self.flow)

    def flow(self, options: dict[str, Any]) -> None:
        command = options["flow_command"]
        if command == "list":
            self.list_flow()
            return
        by, reason = self._who_and_why(options, PAUSE_PERMISSION)
        subject = {"action": options["action"], "name": options["name"]}
        if command == "pause":
            pause = manager.pause(**subject, by=by, reason=reason)
            self.say(f"Paused {pause}: what would run now waits.")
        else:
            pause = manager.resume(**subject, by=by, reason=reason)
            self.say(f"Resumed {pause}: the engines send again what it held.")

    def list_flow(self) -> None:
        limits = [
            (LABELS[kind], action, limit.describe()) for kind, action, limit in registry.limited()
        ]
        if limits:
            for line in table(("HANDLER", "ACTION", "LIMIT"), limits):
                self.say(line)
        else:
            self.say("No handler declares a limit.")
        pauses = [
            (
                pause.get_scope_display(),
                pause.pattern,
                pause.paused_by,
                when(pause.paused_at),
                one_line(pause.reason, 40),
            )
            for pause in manager.pauses()
        ]
        self.say()
        if pauses:
            for line in table(("PAUSED", "PATTERN", "BY", "SINCE", "REASON"), pauses):
                self.say(line)
        else:
            self.say("Nothing is paused.")
