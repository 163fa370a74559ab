"""``schedule list``, ``schedule pause``, ``schedule resume`` and ``schedule
run``: the schedules from a server's shell, through the manager, attributed
and explained exactly as from the admin."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from django_saga.api import manager
from django_saga.schedules.fields import schedule_fields
from django_saga.schedules.ticking import timing_of

from .acting import Acting
from .text import one_line, table, when

#: Each acting subcommand: the manager's method, the permission ``--user`` needs, its help.
_ACTS = {
    "pause": ("pause_schedule", "django_saga.pause_schedule", "Stop it ticking until resumed."),
    "resume": (
        "resume_schedule",
        "django_saga.pause_schedule",
        "Tick again from its next tick (what it slept through does not run).",
    ),
    "run": ("run_schedule", "django_saga.trigger_schedule", "Start its saga now."),
}


class Schedules(Acting):
    """The schedule subcommands."""

    def add_schedule_commands(self, commands: Any) -> None:
        parser = commands.add_parser(
            "schedule", help="Scheduled sagas: list, pause, resume, run now."
        )
        chosen = parser.add_subparsers(
            dest="schedule_command", required=True, metavar="SCHEDULE_COMMAND"
        )
        listing = chosen.add_parser("list", help="Every schedule, with its next and last run.")
        listing.add_argument("--json", action="store_true", help="One JSON object a line.")
        for name, (_, _, help_text) in _ACTS.items():
            command = chosen.add_parser(name, help=help_text)
            command.add_argument("name", metavar="NAME", help="The schedule's name.")
            self.add_actor(command)
        parser.set_defaults(run=self.schedule)

    def schedule(self, options: dict[str, Any]) -> None:
        command = options["schedule_command"]
        if command == "list":
            self.list_schedules(options)
            return
        method, permission, _ = _ACTS[command]
        by, reason = self._who_and_why(options, permission)
        done = getattr(manager, method)(options["name"], by=by, reason=reason)
        if command == "run":
            self.say(f"Schedule {options['name']} started saga {done.pk}.")
        elif command == "pause":
            self.say(f"Schedule {done.name} paused.")
        else:
            self.say(f"Schedule {done.name} resumed: next run {when(done.next_run_at)}.")

    def list_schedules(self, options: dict[str, Any]) -> None:
        found = manager.schedules()
        if options["json"]:
            for schedule in found:
                self.stdout.write(json.dumps(schedule_fields(schedule), cls=DjangoJSONEncoder))
            return
        if not found:
            self.say("No schedule.")
            return
        rows = [
            (
                schedule.name,
                one_line(timing_of(schedule).describe(), 40),
                "enabled" if schedule.enabled else "paused",
                when(schedule.next_run_at),
                when(schedule.last_run_at),
                schedule.last_saga_id or "-",
                str(schedule.skipped),
            )
            for schedule in found
        ]
        headers = ("NAME", "WHEN", "STATUS", "NEXT RUN", "LAST RUN", "LAST SAGA", "SKIPPED")
        for line in table(headers, rows):
            self.say(line)
