"""``manage.py saga_graph``: draw a definition, or a saga with each step's status.

``saga_graph shop.orders.OrderSaga --param order_id=7 ...`` draws what the
definition would run for those parameters (its ``steps()`` depend on them);
``saga_graph --saga ID`` draws what a saga ran. Mermaid text by default, or
an SVG file; on stdout unless ``--output`` names a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from django_saga import diagram
from django_saga.definition import SagaDefinition
from django_saga.errors import SagaDefinitionError
from django_saga.models import Saga


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value``: the value as JSON if it reads as JSON (7, true, [1, 2]), else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CommandError(f"--param {text!r} is not key=value")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def load_definition(path: str) -> type[SagaDefinition]:
    """The ``SagaDefinition`` subclass at a dotted path, or a sentence saying what is wrong."""
    try:
        found = import_string(path)
    except ImportError as exc:
        raise CommandError(f"No definition at {path!r}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, SagaDefinition)):
        raise CommandError(f"{path!r} is not a SagaDefinition subclass")
    return found


class Command(BaseCommand):
    help = (
        "Draw a saga definition (a dotted path), or a saga (--saga ID) with each step's "
        "status, as Mermaid text or an SVG file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "definition", nargs="?", help="A SagaDefinition's dotted path, e.g. shop.orders.Order."
        )
        parser.add_argument("--saga", help="Draw this saga (its id) instead of a definition.")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A parameter for the definition's steps(); repeat it. JSON values are parsed.",
        )
        parser.add_argument(
            "--format",
            choices=["mermaid", "svg"],
            help="mermaid (the default) or svg; an --output ending in .svg means svg.",
        )
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout.")
        parser.add_argument(
            "--direction", choices=["LR", "TD"], default="LR", help="Mermaid only: LR or TD."
        )
        parser.add_argument(
            "--max-stages",
            type=int,
            default=diagram.MAX_STAGES,
            help=f"Stages drawn at most; the rest are counted (default {diagram.MAX_STAGES}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path, saga_id = options["definition"], options["saga"]
        if bool(path) == bool(saga_id):
            raise CommandError("Give either a definition's dotted path or --saga ID (not both)")
        max_stages = options["max_stages"]
        if max_stages < 1:
            raise CommandError("--max-stages must be at least 1")
        if saga_id:
            if options["param"]:
                raise CommandError("--param is for a definition: a saga's steps are stored")
            graph = self._saga(saga_id, max_stages)
        else:
            graph = self._definition(path, options["param"])
        output = options["output"]
        kind = options["format"] or ("svg" if output and output.endswith(".svg") else "mermaid")
        if kind == "svg":
            text = diagram.to_svg(graph, max_stages=max_stages)
        else:
            text = diagram.to_mermaid(graph, options["direction"], max_stages=max_stages)
        if output:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Cannot write {output!r}: {exc}") from exc
            self.stderr.write(f"Wrote {kind} to {output}")
        else:
            self.stdout.write(text, ending="")

    def _saga(self, saga_id: str, max_stages: int) -> diagram.Graph:
        saga = Saga.objects.filter(pk=saga_id).first()
        if saga is None:
            raise CommandError(f"No saga {saga_id!r}")
        return diagram.saga_graph(saga, max_stages=max_stages)

    def _definition(self, path: str, raw: list[str]) -> diagram.Graph:
        kind = load_definition(path)
        params = dict(parse_param(text) for text in raw)
        try:
            return diagram.definition_graph(kind(**params))
        except SagaDefinitionError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except KeyError as exc:
            raise CommandError(
                f"{kind.__name__}.steps() needs the parameter {exc}: give it with "
                f"--param {exc.args[0]}=VALUE"
            ) from exc
        except Exception as exc:
            # steps() is the caller's code: say what it raised, with the parameters given.
            raise CommandError(
                f"{kind.__name__}.steps() raised {type(exc).__name__}: {exc} "
                f"(parameters: {', '.join(sorted(params)) or 'none'})"
            ) from exc
