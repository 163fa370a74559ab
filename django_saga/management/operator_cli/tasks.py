"""``task list``, ``task show`` and ``task claim|release|delegate|complete|
reject``: a user's tasks from a server's shell, answered as that user
(``--user``), with their groups and permissions, through the manager."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from django_saga.actions.tasks import BOXES, MINE, TASK_ACTS
from django_saga.api import manager
from django_saga.errors import TaskFormInvalid
from django_saga.tasks import form_class

from .base import OperatorCommand
from .options import parse_json
from .text import one_line, table, when

HELP = {
    "claim": "Take a task: nobody else may act on it until it is released.",
    "release": "Give a claimed task back to everyone it is offered to.",
    "delegate": "Hand a task to another user (--to), claimed for them.",
    "complete": "Answer a task with its form's fields (--data, a JSON object).",
    "reject": "Turn a task down: its step fails and the saga compensates.",
}


class Tasks(OperatorCommand):
    """The task subcommands."""

    def add_task_commands(self, commands: Any) -> None:
        parser = commands.add_parser("task", help="A user's tasks: list, show and answer them.")
        chosen = parser.add_subparsers(dest="task_command", required=True, metavar="TASK_COMMAND")
        listing = chosen.add_parser("list", help="A box of the user's tasks, newest first.")
        listing.add_argument("--box", choices=BOXES, default=MINE)
        listing.add_argument("--user", required=True, metavar="USERNAME")
        showing = chosen.add_parser("show", help="A task: what it shows, its form's fields.")
        showing.add_argument("task_id", metavar="ID")
        showing.add_argument("--user", required=True, metavar="USERNAME")
        for act in TASK_ACTS:
            command = chosen.add_parser(act, help=HELP[act])
            command.add_argument("task_id", metavar="ID")
            command.add_argument(
                "--user", required=True, metavar="USERNAME", help="Act as this Django user."
            )
            command.add_argument("--reason", required=act in ("delegate", "reject"), default="")
            if act == "delegate":
                command.add_argument("--to", required=True, metavar="USERNAME")
            if act == "complete":
                command.add_argument(
                    "--data", default="{}", metavar="JSON", help="A JSON object (or @FILE)."
                )
        parser.set_defaults(run=self.task)

    def task(self, options: dict[str, Any]) -> None:
        command = options["task_command"]
        user = options["user"]
        if command == "list":
            self._list_tasks(user, options["box"])
            return
        if command == "show":
            self._show_task(options["task_id"], user)
            return
        task_id, reason = options["task_id"], options["reason"]
        if command == "complete":
            data = parse_json(options["data"], "--data")
            try:
                task = manager.complete_task(task_id, data, by=user, reason=reason)
            except TaskFormInvalid as exc:
                fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
                raise CommandError(f"{exc}: {fields}") from None
        elif command == "reject":
            task = manager.reject_task(task_id, by=user, reason=reason)
        elif command == "delegate":
            task = manager.delegate_task(task_id, options["to"], by=user, reason=reason)
        else:
            change = manager.claim_task if command == "claim" else manager.release_task
            task = change(task_id, by=user, reason=reason)
        claimed = f", claimed by {task.claimed_by}" if task.claimed_by and task.live else ""
        self.say(f"Task {task.pk} ({task.title}): {command} done. It is now {task.state}{claimed}.")

    def _list_tasks(self, user: str, box: str) -> None:
        rows = [
            (
                task.pk,
                one_line(task.title, 40),
                task.state,
                task.claimed_by or "-",
                when(task.due_at) if task.due_at else "-",
                when(task.created_at),
            )
            for task in manager.tasks(user, box, limit=100)
        ]
        counts = manager.task_counts(user)
        self.say(", ".join(f"{name}: {count}" for name, count in counts.items()))
        if rows:
            for line in table(("ID", "TITLE", "STATE", "CLAIMED BY", "DUE", "SINCE"), rows):
                self.say(line)
        else:
            self.say("No task here.")

    def _show_task(self, task_id: str, user: str) -> None:
        task = manager.task(task_id, user)
        self.say(f"{task.title} ({task.state})")
        for label, value in task.shown.items():
            self.say(f"  {one_line(label, 40)}: {one_line(json.dumps(value), 80)}")
        if task.due_at:
            self.say(f"  due: {when(task.due_at)}{' (overdue)' if task.overdue else ''}")
        self.say(f"  claimed by: {task.claimed_by or '-'}")
        form = form_class(task.form, f"Task {task.title!r}")()
        fields = ", ".join(
            f"{name}{'' if field.required else '?'}" for name, field in form.fields.items()
        )
        self.say(f"  form: {fields or '(no field)'}")
