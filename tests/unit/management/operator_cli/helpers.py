"""What the tests of ``manage.py saga`` share: running it in this process, and
the sagas it is run on."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_saga import Step
from django_saga.models import Intervention, OutboxMessage, Saga, SagaStep
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


#: JSON nested far deeper than Python's reader can follow, inside a field of an
#: otherwise well-formed object (a JSON API body).
DEEP_FIELD = '{"reason": "fixed", "input": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001


def nothing_changed(saga: Saga) -> None:
    """The halted saga's ``ship`` step is still failed, and no operator acted."""
    assert SagaStep.objects.get(saga=saga, name="ship").status == "failed"
    assert Saga.objects.get(pk=saga.pk).state == "halted"
    assert not Intervention.objects.exists()
    assert not OutboxMessage.objects.exists()


# -- stored text that would drive a terminal ---------------------------------------
RETITLE = "\x1b]0;owned\x07"
CLEAR = "\x1b[2J"
RLO = "\u202e"
#: Every character the text output must show as an escape, never as itself.
NOT_SHOWN = [
    *map(chr, range(0x20)),
    "\x7f",
    *map(chr, range(0x80, 0xA0)),
    "\u061c",
    "\u200e",
    "\u200f",
    "\u2028",
    "\u2029",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]


def escape_of(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown_as_is(output: str) -> list[str]:
    """The characters of ``output`` that a terminal would act on (line ends aside)."""
    return sorted({char for line in output.split("\n") for char in line if char in NOT_SHOWN})


def hostile_saga() -> Saga:
    """A halted saga whose stored text is full of escapes, as rows written before
    names and keys were checked, or an outside service's error, may be."""
    saga = Saga.objects.create(
        name=f"order{RETITLE}",
        key=f"inv{RLO}fdp.exe",
        state="halted",
        definition=f"shop{CLEAR}",
        version="2",
        error=f"step 'ship' failed: {CLEAR}carrier down\nretry later\rALL FINE",
    )
    SagaStep.objects.create(
        saga=saga,
        position=0,
        name=f"ship{RLO}",
        action="test.needs_ok",
        status="failed",
        error=f"declined{RETITLE}",
        attempts=1,
        history=[
            {
                "kind": "execute",
                "attempt": 1,
                "outcome": "failed",
                "at": saga.created_at.isoformat(),
                "error": f"provider said \x9b31m{CLEAR}",
                "by": "webhook\x1b[8m",
                "reason": f"late{RLO}",
            }
        ],
    )
    Intervention.objects.create(
        saga=saga,
        action="retry_step",
        step=f"ship{RLO}",
        actor=f"eve{CLEAR}",
        reason=f"fixed{RETITLE}",
    )
    return saga
