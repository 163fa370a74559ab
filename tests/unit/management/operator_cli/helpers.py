"""What the tests of ``manage.py saga`` share: running it in this process, and
the sagas it is run on."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_saga import Step
from django_saga.models import Saga
from tests import factories

REASON = ("--reason", "the carrier is back")


def saga(*args: str) -> str:
    """Run ``manage.py saga ARGS`` in this process; what it printed."""
    out = StringIO()
    call_command("saga", *args, stdout=out)
    return out.getvalue()


def refused(*args: str) -> str:
    """Run a command that must be refused; the sentence it is refused with."""
    with pytest.raises(CommandError) as info:
        saga(*args)
    return str(info.value)


def state_of(saga_id: str) -> str:
    return Saga.objects.get(pk=saga_id).state


def halted_saga(name: str = "order") -> Saga:
    """With an attempt in the ship step's history, for ``show``."""
    return factories.halted_saga(
        name,
        input={"address": "old"},
        history=[
            {
                "kind": "execute",
                "attempt": 1,
                "outcome": "failed",
                "at": "2025-01-02T03:04:05+00:00",
                "duration_ms": 7,
                "error": "RetryableError: carrier down",
            }
        ],
    )


def shop(ship: str = "test.needs_ok", ship_input: dict | None = None) -> list[Step]:
    """Reserve (undoable), capture (the pivot), ship: a failing ship halts the saga."""
    return [
        Step("reserve", "test.record", "test.undo"),
        Step("capture", "test.record", pivot=True),
        Step("ship", ship, input=ship_input or {}),
    ]
