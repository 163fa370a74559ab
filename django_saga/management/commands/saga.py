"""``manage.py saga``: find, read and repair sagas from a server's shell, without a browser.

``list`` and ``show`` read; ``compensate``, ``retry-compensation``,
``retry-step``, ``skip-step`` and ``redrive`` act, each through the manager:
refused, recorded on the saga's trail and attributed (``--by``, ``--user``)
exactly as from the admin or the console. Every action asks for a reason. A
refusal is a ``CommandError`` with the manager's sentence: exit status 1.
``token create``, ``token list`` and ``token revoke`` manage the JSON API's
bearer tokens.

What the text output quotes (names, keys, errors, attempts, the trail) was
stored by others, an outside service's error among it: every control
character and bidi override in it is printed as an escape (``\\x1b``,
``\\u202e``), never as itself. ``--json`` is plain ASCII: JSON escapes them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.utils import timezone

from django_saga import clock, interventions, validation
from django_saga.api import manager
from django_saga.console import tokens
from django_saga.console.formatting import (
    format_duration,
    format_progress,
    intervention_json,
    progress_text,
    terminal_text,
)
from django_saga.console.operations import (
    COMPENSATE_SAGA,
    REDRIVE_PERMISSION,
    RETRY_SAGA_COMPENSATION,
    RETRY_STEP,
    SKIP_STEP,
    perform,
)
from django_saga.console.parsing import UnreadableJSON, read_json
from django_saga.console.queries import attach_progress
from django_saga.errors import InvalidStateTransition, SagaDefinitionError, SagaNotFound
from django_saga.models import (
    ACTIVE_STATES,
    KEY_MAX_CHARS,
    SAGA_ID_MAX_CHARS,
    WAITING_FOR_OPERATOR,
    ApiToken,
    Intervention,
    Saga,
    SagaState,
    SagaStep,
)

#: Sagas ``list`` prints unless told otherwise, and at most.
DEFAULT_LIMIT = 50
MAX_LIMIT = 10_000
#: Seconds between two looks at a re-drive's progress.
POLL_SECONDS = 1.0
#: How long a re-drive is watched after its last saga is sent, unless --timeout says.
WATCH_AFTER = timedelta(minutes=5)

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
        return interventions.rate_value(float(number) / _PER[unit or "s"])
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


#: Spaces, tabs and line ends: one space each run in a one-line cell.
_BLANKS = re.compile(r"[ \t\r\n]+")


def one_line(value: object, width: int) -> str:
    """``value`` on one line, its controls made visible, cut to ``width`` characters."""
    text = terminal_text(_BLANKS.sub(" ", str(value)).strip())
    return text if len(text) <= width else text[: width - 3] + "..."


def brief_json(value: Any, width: int = 40) -> str:
    return one_line(json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder), width)


def when(moment: datetime | None) -> str:
    """A time in the project's time zone, to the second."""
    if moment is None:
        return "-"
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Columns padded to their widest cell; the last one is not padded.

    Each cell's controls are made visible before it is measured, so that the
    columns line up whatever the cells hold.
    """
    cells = [list(map(terminal_text, row)) for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *cells]
    ]


def saga_json(saga: Saga, progress: bool = True) -> dict[str, Any]:
    """A saga as ``list --json`` prints it: the JSON API's fields, and its error.

    ``id`` repeats ``saga_id`` for the scripts written before the names
    agreed; new ones should read ``saga_id``.
    """
    return {
        "saga_id": saga.pk,
        "id": saga.pk,
        "name": saga.name,
        "key": saga.key,
        "state": saga.state,
        **(
            {"steps_done": saga.steps_done, "steps_total": saga.steps_total}  # type: ignore[attr-defined]
            if progress
            else {}
        ),
        "created_at": saga.created_at,
        "updated_at": saga.updated_at,
        "completed_at": saga.completed_at,
        "error": saga.error,
    }


def step_json(step: SagaStep) -> dict[str, Any]:
    return {
        "id": step.pk,
        "position": step.position,
        "stage": step.stage,
        "name": step.name,
        "action": step.action,
        "compensation": step.compensation,
        "pivot": step.pivot,
        "status": step.status,
        "attempts": step.attempts,
        "compensation_attempts": step.compensation_attempts,
        "executed_at": step.executed_at,
        "compensated_at": step.compensated_at,
        "error": step.error,
        "input": step.input,
        "output": step.output,
        "history": step.history,
    }


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


def state_counts(counts: Counter[str] | dict[str, int]) -> str:
    """``"3 completed, 1 halted"``, in the states' own order."""
    return ", ".join(
        f"{counts[state]:,} {state}" for state in SagaState.values if counts.get(state)
    )


class Command(BaseCommand):
    help = (
        "Find, read and repair sagas: list, show, compensate, retry-compensation, "
        "retry-step, skip-step, redrive. Each action needs --reason and is recorded on "
        "the saga's trail. `token` makes, lists and revokes the JSON API's tokens. "
        "`manage.py saga COMMAND --help` tells more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

        listing = commands.add_parser("list", help="Sagas, the newest first, filtered.")
        self._add_filters(listing, ", ".join(SagaState.values))
        listing.add_argument("--key", help="Only sagas with this business key.")
        listing.add_argument(
            "--batch", metavar="ID", help="Only sagas a re-drive (by its id) retried."
        )
        listing.add_argument(
            "--limit",
            type=how_many(MAX_LIMIT),
            default=DEFAULT_LIMIT,
            help=f"At most this many sagas (default {DEFAULT_LIMIT}).",
        )
        listing.add_argument("--json", action="store_true", help="One JSON object a line.")

        show = commands.add_parser("show", help="A saga, its steps, their attempts and its trail.")
        show.add_argument("saga_id", metavar="ID")
        show.add_argument("--json", action="store_true", help="The saga as one JSON object.")

        compensate = commands.add_parser(
            "compensate", help="Undo a saga's completed steps, last first."
        )
        compensate.add_argument("saga_id", metavar="ID")
        self._add_actor(compensate)

        retry = commands.add_parser(
            "retry-compensation", help="Run a saga's failed compensations again."
        )
        retry.add_argument("saga_id", metavar="ID")
        self._add_actor(retry)

        retry_step = commands.add_parser(
            "retry-step", help="Run a failed step again, with its input or a new one."
        )
        retry_step.add_argument("saga_id", metavar="ID")
        retry_step.add_argument("step", metavar="STEP", help="The step's name (or id).")
        retry_step.add_argument(
            "--input",
            metavar="JSON",
            help="The step's new input, a JSON object (or @FILE holding one). "
            "Default: the input it had.",
        )
        self._add_actor(retry_step)

        skip_step = commands.add_parser(
            "skip-step",
            help="Record a failed or waiting step as completed by hand, and go on.",
        )
        skip_step.add_argument("saga_id", metavar="ID")
        skip_step.add_argument("step", metavar="STEP", help="The step's name (or id).")
        skip_step.add_argument(
            "--output",
            metavar="JSON",
            help="The step's output, a JSON object (or @FILE holding one). Default: {}.",
        )
        self._add_actor(skip_step)

        redrive = commands.add_parser(
            "redrive",
            help="Retry many sagas that wait for an operator, paced through the outbox.",
        )
        self._add_filters(redrive, ", ".join(WAITING_FOR_OPERATOR) + "; default: all three")
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
        self._add_actor(redrive)

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

    @staticmethod
    def _add_filters(parser: CommandParser, states: str) -> None:
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

    @staticmethod
    def _add_actor(parser: CommandParser) -> None:
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

    def handle(self, *args: Any, **options: Any) -> None:
        run = {
            "list": self.list_sagas,
            "show": self.show,
            "compensate": self.compensate,
            "retry-compensation": self.retry_compensation,
            "retry-step": self.retry_step,
            "skip-step": self.skip_step,
            "redrive": self.redrive,
            "token": self.token,
        }[options["command"]]
        try:
            run(options)
        except (SagaNotFound, InvalidStateTransition, SagaDefinitionError) as exc:
            raise CommandError(terminal_text(exc)) from None
        except CommandError as exc:
            # Its sentence may quote stored text: a saga's or a token's name.
            raise CommandError(terminal_text(exc), returncode=exc.returncode) from None

    def say(self, text: str = "") -> None:
        """Print a line for the operator: what it quotes was stored by others, so
        every character a terminal would act on is shown as an escape."""
        self.stdout.write(terminal_text(text))

    # -- reading ------------------------------------------------------------------
    def list_sagas(self, options: dict[str, Any]) -> None:
        states = parse_states(options["state"], SagaState.values, "saga states")
        queryset: QuerySet[Saga] = Saga.objects.all()
        if states:
            queryset = queryset.filter(state__in=states)
        if options["name"] is not None:
            name = validation.text(options["name"], "--name", validation.NAME_MAX_CHARS)
            queryset = queryset.filter(name=name)
        if options["error"] is not None:
            error = validation.text(options["error"], "--error", validation.ERROR_MAX_CHARS)
            queryset = queryset.filter(error__icontains=error)
        older_than = parse_age(options["older_than"], "--older-than")
        if older_than is not None:
            queryset = queryset.filter(updated_at__lt=clock.now() - older_than)
        if options["key"] is not None:
            queryset = queryset.filter(key=validation.text(options["key"], "--key", KEY_MAX_CHARS))
        if options["batch"] is not None:
            batch = validation.text(options["batch"], "--batch", SAGA_ID_MAX_CHARS)
            queryset = queryset.filter(
                pk__in=Intervention.objects.filter(batch=batch).values("saga_id")
            )
        limit = options["limit"]
        sagas = attach_progress(queryset.order_by("-pk")[:limit])
        if options["json"]:
            for saga in sagas:
                self.stdout.write(json.dumps(saga_json(saga), cls=DjangoJSONEncoder))
            return
        if not sagas:
            self.say("No saga matches.")
            return
        rows = [
            (
                saga.pk,
                one_line(saga.name, 30),
                saga.state,
                format_progress(saga.steps_done, saga.steps_total),  # type: ignore[attr-defined]
                when(saga.updated_at),
                one_line(saga.error, 60),
            )
            for saga in sagas
        ]
        for line in table(("ID", "NAME", "STATE", "PROGRESS", "UPDATED", "ERROR"), rows):
            self.say(line)
        if len(sagas) == limit:
            self.say(f"The newest {limit:,} shown; --limit shows more.")

    def show(self, options: dict[str, Any]) -> None:
        saga = manager.get(options["saga_id"])
        trail = manager.interventions(saga.pk)
        if options["json"]:
            document = {
                **saga_json(saga, progress=False),
                "deadline_at": saga.deadline_at,
                "definition": saga.definition,
                "version": saga.version,
                "context": saga.context,
                "steps": [step_json(step) for step in saga.steps],
                "interventions": [intervention_json(entry) for entry in trail],
            }
            self.stdout.write(json.dumps(document, cls=DjangoJSONEncoder, indent=2))
            return
        write = self.say
        write(f"Saga {saga.pk} ({saga.name})")
        if saga.key:
            write(f"  key:      {saga.key}")
        write(f"  state:    {saga.get_state_display()}")
        write(f"  progress: {progress_text(saga)} done")
        write(
            f"  created:  {when(saga.created_at)}   updated: {when(saga.updated_at)}"
            f"   ended: {when(saga.completed_at)}"
        )
        if saga.deadline_at:
            write(f"  deadline: {when(saga.deadline_at)}")
        if saga.definition:
            write(f"  defined:  {saga.definition} v{saga.version}")
        if saga.error:
            first, *more = saga.error.split("\n")
            write(f"  error:    {first}")
            for line in more:
                write(f"            {line}")
        write(f"  context:  {brief_json(saga.context, 200)}")
        write("")
        write("Steps:")
        rows = [
            (
                str(step.position + 1),
                str(step.stage + 1),
                step.name,
                step.status,
                "pivot" if step.pivot else "",
                str(step.attempts)
                + (f" +{step.compensation_attempts} undo" if step.compensation_attempts else ""),
                brief_json(step.input),
                brief_json(step.output),
                one_line(step.error, 60),
            )
            for step in saga.steps
        ]
        headers = ("#", "STAGE", "NAME", "STATUS", "PIVOT", "ATTEMPTS", "INPUT", "OUTPUT", "ERROR")
        for line in table(headers, rows):
            write("  " + line)
        attempts = [step for step in saga.steps if step.history]
        if attempts:
            write("")
            write("Attempts:")
            for step in attempts:
                write(f"  {step.name}")
                for entry in step.history:
                    if isinstance(entry, dict):
                        write("    " + _attempt_line(entry))
        write("")
        if not trail:
            write("Trail: no operator has acted on this saga.")
            return
        write("Trail (what operators did):")
        actions = [
            (
                when(entry.at),
                entry.actor,
                entry.get_action_display(),
                entry.step or "-",
                entry.batch or "-",
                one_line(entry.reason, 80),
            )
            for entry in trail
        ]
        for line in table(("AT", "BY", "ACTION", "STEP", "RE-DRIVE", "REASON"), actions):
            write("  " + line)

    # -- acting -------------------------------------------------------------------
    def compensate(self, options: dict[str, Any]) -> None:
        by, reason = self._who_and_why(options, COMPENSATE_SAGA.permission)
        saga = perform(COMPENSATE_SAGA, options["saga_id"], by=by, reason=reason)
        self._done(saga, COMPENSATE_SAGA.done)

    def retry_compensation(self, options: dict[str, Any]) -> None:
        by, reason = self._who_and_why(options, RETRY_SAGA_COMPENSATION.permission)
        saga = perform(RETRY_SAGA_COMPENSATION, options["saga_id"], by=by, reason=reason)
        self._done(saga, RETRY_SAGA_COMPENSATION.done)

    def retry_step(self, options: dict[str, Any]) -> None:
        data = parse_json(options["input"], "--input")
        by, reason = self._who_and_why(options, RETRY_STEP.permission)
        # The manager, not perform(): a step it does not know is refused
        # with the names of the saga's steps.
        saga = manager.retry_step(options["saga_id"], options["step"], data, by=by, reason=reason)
        self._done(saga, f"step {options['step']!r}: {RETRY_STEP.done}")

    def skip_step(self, options: dict[str, Any]) -> None:
        data = parse_json(options["output"], "--output")
        by, reason = self._who_and_why(options, SKIP_STEP.permission)
        saga = manager.skip_step(options["saga_id"], options["step"], data, reason, by=by)
        self._done(saga, f"step {options['step']!r}: {SKIP_STEP.done}")

    def redrive(self, options: dict[str, Any]) -> None:
        rate = parse_rate(options["rate"])
        states = parse_states(options["state"], WAITING_FOR_OPERATOR, "the states a re-drive takes")
        limit = options["limit"]
        timeout = parse_age(options["timeout"], "--timeout")
        by, reason = self._who_and_why(options, REDRIVE_PERMISSION)
        selected = interventions.select(
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
            + (f"the last is sent {_seconds(last)} from now." if last else "sent at once.")
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

    def _watch(self, redrive: interventions.Redrive, timeout: timedelta) -> None:
        """Progress until no saga of the re-drive is running, or ``timeout``."""
        started = time.monotonic()
        deadline = started + timeout.total_seconds()
        tty = self.stdout.isatty()
        shown = ""
        counts: dict[str, int] = {}
        running = 0
        try:
            while True:
                counts = interventions.progress(redrive.batch)
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
        elapsed = _seconds(time.monotonic() - started)
        finished = state_counts({s: n for s, n in counts.items() if s not in ACTIVE_STATES})
        parts = [finished] if finished else []
        if running:
            parts.append(
                f"{running:,} still running, which go on without this command: "
                f"manage.py saga list --batch {redrive.batch}"
            )
        self.say(f"Re-drive {redrive.batch} after {elapsed}: {'; '.join(parts)}.")

    # -- API tokens ---------------------------------------------------------------
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

    def _django_user(self, username: str, active: bool = True) -> Any:
        model = get_user_model()
        try:
            user = model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            raise CommandError(f"--user {username!r}: no such Django user") from None
        if active and not user.is_active:
            raise CommandError(f"--user {username!r} is not an active user")
        return user

    def _who_and_why(self, options: dict[str, Any], permission: str) -> tuple[Any, str]:
        """Who acts and why. ``--user`` acts as a Django user, who must hold
        ``permission`` as in the console; ``--by`` names someone who is not
        one, marked in the trail as named on the command line."""
        reason = interventions.reason_text(options["reason"], required=True)
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


def _attempt_line(entry: dict[str, Any]) -> str:
    """One entry of a step's history: ``execute #2 failed at ... (12 ms): error``."""
    text = f"{entry.get('kind', '')} #{entry.get('attempt', '')} {entry.get('outcome', '')}"
    at = entry.get("at")
    if isinstance(at, str):
        try:
            text += f" at {when(datetime.fromisoformat(at))}"
        except ValueError:
            text += f" at {at}"
    if entry.get("duration_ms") is not None:
        text += f" ({entry['duration_ms']} ms)"
    if entry.get("error"):
        text += f": {one_line(entry['error'], 120)}"
    if entry.get("by"):
        text += (
            f" [by {entry['by']}" + (f": {entry['reason']}" if entry.get("reason") else "") + "]"
        )
    elif entry.get("reason"):
        text += f" [{entry['reason']}]"
    return text


def _seconds(value: float) -> str:
    return format_duration(timedelta(seconds=value))
