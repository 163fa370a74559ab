"""The operator actions and ``redrive``: each attributed, explained and recorded."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from functools import partial
from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_saga import actions
from django_saga.actions import ACTIONS, REDRIVE_PERMISSION, Action, Redrive
from django_saga.api import manager
from django_saga.models import ACTIVE_STATES, WAITING_FOR_OPERATOR, Saga

from .base import OperatorCommand
from .options import (
    BY_MAX_CHARS,
    default_actor,
    how_many,
    named_on_command_line,
    parse_age,
    parse_json,
    parse_rate,
    parse_states,
)
from .text import seconds, state_counts

#: Seconds between two looks at a re-drive's progress.
POLL_SECONDS = 1.0
#: How long a re-drive is watched after its last saga is sent, unless --timeout says.
WATCH_AFTER = timedelta(minutes=5)


class Acting(OperatorCommand):
    """The acting subcommands: one per operator action, and ``redrive``."""

    def add_acting_commands(self, commands: Any) -> None:
        for action in ACTIONS:
            command = commands.add_parser(action.slug, help=f"{action.api_summary}.")
            command.add_argument("saga_id", metavar="ID")
            if action.on_step:
                command.add_argument("step", metavar="STEP", help="The step's name (or id).")
            if action.data is not None:
                command.add_argument(
                    f"--{action.data.key}",
                    metavar="JSON",
                    help=f"{action.data.meaning}: a JSON object (or @FILE holding one). "
                    f"Default: {action.data.absent}.",
                )
            self.add_actor(command)
            command.set_defaults(run=partial(self.act, action=action))
        redrive = commands.add_parser(
            "redrive",
            help="Retry many sagas that wait for an operator, paced through the outbox.",
        )
        self.add_filters(redrive, ", ".join(WAITING_FOR_OPERATOR) + "; default: all three")
        redrive.add_argument(
            "--rate",
            required=True,
            help="How fast: sagas a second or a minute, e.g. 5/s, 0.5/s or 30/m.",
        )
        redrive.add_argument(
            "--limit", type=how_many(), help="At most this many sagas, the oldest first."
        )
        redrive.add_argument(
            "--dry-run", action="store_true", help="Say what would be re-driven; change nothing."
        )
        redrive.add_argument(
            "--no-wait",
            action="store_true",
            help="Schedule the re-drive and return, without watching it.",
        )
        redrive.add_argument(
            "--timeout",
            metavar="AGE",
            help="Stop watching after this long, e.g. 10m (default: until the last saga is "
            "sent, and 5 minutes more). The re-drive goes on regardless.",
        )
        self.add_actor(redrive)
        redrive.set_defaults(run=self.redrive)

    def act(self, options: dict[str, Any], action: Action) -> None:
        """Run ``action`` through the manager, as the command line gives it."""
        data = None
        if action.data is not None:
            data = parse_json(options[action.data.key], f"--{action.data.key}")
        by, reason = self._who_and_why(options, action.permission)
        step = options["step"] if action.on_step else ""
        saga = manager.act(action, options["saga_id"], step, data, by=by, reason=reason)
        self._done(saga, f"step {step!r}: {action.done}" if action.on_step else action.done)

    def redrive(self, options: dict[str, Any]) -> None:
        rate = parse_rate(options["rate"])
        states = parse_states(options["state"], WAITING_FOR_OPERATOR, "the states a re-drive takes")
        limit = options["limit"]
        timeout = parse_age(options["timeout"], "--timeout")
        by, reason = self._who_and_why(options, REDRIVE_PERMISSION)
        selected = actions.select(
            name=options["name"] or "",
            states=states,
            error=options["error"] or "",
            older_than=parse_age(options["older_than"], "--older-than"),
        ).values_list("pk", "state")
        rows = list(selected if limit is None else selected[:limit])
        if not rows:
            self.say("No saga waiting for an operator matches: nothing to re-drive.")
            return
        ids = [saga_id for saga_id, _ in rows]
        last = max(len(ids) - 1, 0) / rate
        verb = "Would re-drive" if options["dry_run"] else "Re-driving"
        self.say(
            f"{verb} {len(ids):,} saga{'s' if len(ids) != 1 else ''} "
            f"({state_counts(Counter(state for _, state in rows))}) at {rate:g} a second: "
            + (f"the last is sent {seconds(last)} from now." if last else "sent at once.")
        )
        if options["dry_run"]:
            self.say("Dry run: nothing was changed.")
            return
        redrive = manager.redrive(ids, rate=rate, by=by, reason=reason)
        self.say(
            f"Re-drive {redrive.batch}: {len(redrive.scheduled):,} scheduled, "
            f"{len(redrive.refused):,} refused."
        )
        for _, why in redrive.refused:
            self.say(f"  {why}")
        if not redrive.scheduled or options["no_wait"]:
            if redrive.scheduled:
                self.say(f"Follow it with: manage.py saga list --batch {redrive.batch}")
            return
        self._watch(redrive, timeout or timedelta(seconds=redrive.seconds) + WATCH_AFTER)

    def _watch(self, redrive: Redrive, timeout: timedelta) -> None:
        """Progress until no saga of the re-drive is running, or ``timeout``."""
        started = time.monotonic()
        deadline = started + timeout.total_seconds()
        tty = self.stdout.isatty()
        shown = ""
        counts: dict[str, int] = {}
        running = 0
        try:
            while True:
                counts = actions.progress(redrive.batch)
                running = sum(counts.get(state, 0) for state in ACTIVE_STATES)
                line = f"{state_counts(counts) or 'nothing yet'}"
                if tty:
                    self.stdout.write(f"\r{line}\x1b[K", ending="")
                    self.stdout.flush()
                elif line != shown:
                    self.say(line)
                shown = line
                if not running or time.monotonic() >= deadline:
                    break
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            pass
        if tty:
            self.say("")
        elapsed = seconds(time.monotonic() - started)
        finished = state_counts({s: n for s, n in counts.items() if s not in ACTIVE_STATES})
        parts = [finished] if finished else []
        if running:
            parts.append(
                f"{running:,} still running, which go on without this command: "
                f"manage.py saga list --batch {redrive.batch}"
            )
        self.say(f"Re-drive {redrive.batch} after {elapsed}: {'; '.join(parts)}.")

    def _who_and_why(self, options: dict[str, Any], permission: str) -> tuple[Any, str]:
        """Who acts and why. ``--user`` acts as a Django user, who must hold
        ``permission`` as in the console; ``--by`` names someone who is not
        one, marked in the trail as named on the command line."""
        reason = actions.reason_text(options["reason"], required=True)
        if options["user"] is not None:
            user = self._django_user(options["user"])
            if not user.has_perm(permission):
                raise CommandError(
                    f"--user {user.get_username()!r} does not hold the permission "
                    f"{permission!r} this action needs (as in the console)"
                )
            return user, reason
        if options["by"] is not None:
            name = options["by"].strip()
            if not name:
                raise CommandError("--by must name who acts")
            if len(name) > BY_MAX_CHARS:
                raise CommandError(
                    f"--by is {len(name)} characters long, over the limit of {BY_MAX_CHARS}"
                )
            return named_on_command_line(name), reason
        return default_actor(), reason

    def _done(self, saga: Saga, what: str) -> None:
        self.say(f"Saga {saga.pk} ({saga.name}): {what} It is now {saga.state}.")

    @staticmethod
    def add_actor(parser: CommandParser) -> None:
        parser.add_argument(
            "--reason", required=True, help="Why: it goes on the saga's trail with your name."
        )
        who = parser.add_mutually_exclusive_group()
        who.add_argument(
            "--by",
            metavar="NAME",
            help="Who acts, as the trail names them (default: this shell's user@host).",
        )
        who.add_argument(
            "--user",
            metavar="USERNAME",
            help="Act as this Django user: the trail names them and Django's admin log "
            "records it too.",
        )
