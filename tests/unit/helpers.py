"""Plain helpers the unit tests of several modules share."""

from __future__ import annotations

import math

from django.test.utils import CaptureQueriesContext

from django_saga import Step, manager
from django_saga.clock import MAX_SECONDS
from django_saga.models import OutboxMessage, Saga, SagaStep
from tests.factories import SagaFactory, SagaStepFactory

#: A saga of one step with a compensation, for tests about anything but its steps.
ONE_STEP = [Step("a", "test.record", "test.undo")]


def nothing_recorded() -> bool:
    """Whether no saga, no step and no outbox message was written."""
    return not (
        Saga.objects.exists() or SagaStep.objects.exists() or OutboxMessage.objects.exists()
    )


def assert_nothing_recorded() -> None:
    assert not Saga.objects.exists()
    assert not SagaStep.objects.exists()
    assert not OutboxMessage.objects.exists()


def nested(depth: int, leaf: object = 1) -> object:
    """``leaf`` inside ``depth`` lists."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


#: Timeouts no scheduler can honour: infinite, not a number, past the limit, not positive.
HUGE = [math.inf, -math.inf, math.nan, 1e12, MAX_SECONDS + 1, 0, -5]

#: Text that would steer a terminal or a page, and how a refusal names what it holds.
STEERING = [
    ("\x1b]0;pwned\x07", "a control character (\\x1b)"),
    ("clear\x1b[2J", "a control character (\\x1b)"),
    ("csi\x9b2J", "a control character (\\x9b)"),
    ("rtl\u202eevil", "a bidirectional control (\\u202e)"),
    ("isolate\u2066x", "a bidirectional control (\\u2066)"),
    ("two\nlines", "a control character (\\x0a)"),
]


def statements_of(queries: CaptureQueriesContext) -> list[str]:
    """The SQL of each statement ``queries`` captured."""
    return [q["sql"] for q in queries.captured_queries]


def start_steps(k: int):
    """Start a saga of ``k`` steps, each recording which process ran it."""
    return manager.start("budget", [Step(f"s{i}", "test.pid", "") for i in range(k)])


def keyed_wait(name: str = "shop", key: str = "order-X") -> SagaStep:
    """A saga with a business key whose step ``pay`` waits on its first attempt."""
    saga = SagaFactory(name=name, key=key)
    return SagaStepFactory(saga=saga, position=0, name="pay", waiting=True)
