"""``list`` and ``show``: sagas found and read from a shell."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet

from django_saga import clock, validation
from django_saga.api import manager
from django_saga.console.formatting import format_progress, progress_text
from django_saga.console.queries import attach_progress
from django_saga.models import (
    KEY_MAX_CHARS,
    SAGA_ID_MAX_CHARS,
    Intervention,
    Saga,
    SagaState,
    saga_id_of,
)
from django_saga.serialise import saga_document, saga_json

from .base import OperatorCommand
from .options import how_many, parse_age, parse_states
from .text import attempt_line, brief_json, one_line, table, when

#: Sagas ``list`` prints unless told otherwise, and at most.
DEFAULT_LIMIT = 50
MAX_LIMIT = 10_000


class Reading(OperatorCommand):
    """The reading subcommands."""

    def add_reading_commands(self, commands: Any) -> None:
        listing = commands.add_parser("list", help="Sagas, the newest first, filtered.")
        self.add_filters(listing, ", ".join(SagaState.values))
        listing.add_argument("--key", help="Only sagas with this business key.")
        listing.add_argument("--parent", help="Only the child sagas of the saga with this id.")
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
        listing.set_defaults(run=self.list_sagas)

        show = commands.add_parser("show", help="A saga, its steps, their attempts and its trail.")
        show.add_argument("saga_id", metavar="ID")
        show.add_argument("--json", action="store_true", help="The saga as one JSON object.")
        show.set_defaults(run=self.show)

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
        if options["parent"]:
            queryset = queryset.filter(parent_id=saga_id_of(options["parent"]))
        if options["batch"] is not None:
            batch = validation.text(options["batch"], "--batch", SAGA_ID_MAX_CHARS)
            queryset = queryset.filter(
                pk__in=Intervention.objects.filter(batch=batch).values("saga_id")
            )
        limit = options["limit"]
        sagas = attach_progress(queryset.order_by("-pk")[:limit])
        if options["json"]:
            for saga in sagas:
                self.stdout.write(json.dumps(_listed(saga), cls=DjangoJSONEncoder))
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
            # ``id`` repeats ``saga_id`` for the scripts written before the names agreed.
            children = manager.children(saga.pk)
            document = {**saga_document(saga, trail, children, content=True), "id": saga.pk}
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
        if saga.parent_id:
            write(
                f"  parent:   {saga.parent_id} (its step {saga.parent_step_id} waits for this one)"
            )
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
                step.ordinal,
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
        tree = child_tree(saga)
        if tree:
            write("")
            write("Children (child sagas its steps started, theirs below them):")
            for line in tree:
                write("  " + line)
        attempts = [step for step in saga.steps if step.history]
        if attempts:
            write("")
            write("Attempts:")
            for step in attempts:
                write(f"  {step.name}")
                for entry in step.history:
                    if isinstance(entry, dict):
                        write("    " + attempt_line(entry))
        write("")
        if not trail:
            write("Trail: no operator has acted on this saga.")
            return
        write("Trail (what operators did):")
        actions = [
            (
                when(entry.at),
                entry.actor,
                entry.action_label,
                entry.step or "-",
                entry.batch or "-",
                one_line(entry.reason, 80),
            )
            for entry in trail
        ]
        for line in table(("AT", "BY", "ACTION", "STEP", "RE-DRIVE", "REASON"), actions):
            write("  " + line)


#: The most lines ``saga show`` gives a saga's tree of children.
TREE_LINES = 200


def child_tree(saga: Saga, pad: str = "", lines: list[str] | None = None) -> list[str]:
    """The saga's children, each after the step that started it, and theirs
    indented below them: at most ``TREE_LINES`` lines, then one saying more."""
    lines = [] if lines is None else lines
    names = {step.pk: step.name for step in saga.steps}
    for child in manager.children(saga.pk):
        if len(lines) >= TREE_LINES:
            if lines[-1] != _MORE:
                lines.append(_MORE)
            return lines
        step = names.get(child.parent_step_id or "", "?")
        lines.append(f"{pad}{step} -> {child.pk} {child.name} ({child.state})")
        child_tree(manager.get(child.pk), pad + "    ", lines)
    return lines


_MORE = "... (more: `saga list --parent ID` lists a saga's children)"


def _listed(saga: Saga) -> dict[str, Any]:
    """A saga as ``list --json`` prints it: its fields and its progress.

    ``id`` repeats ``saga_id`` for the scripts written before the names
    agreed; new ones should read ``saga_id``.
    """
    return {
        **saga_json(saga),
        "id": saga.pk,
        "steps_done": saga.steps_done,  # type: ignore[attr-defined]
        "steps_total": saga.steps_total,  # type: ignore[attr-defined]
    }
