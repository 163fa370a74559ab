"""What the tests of purging and archiving share: finished sagas of a given
age, what is left of them, and the ``saga_purge`` command's output."""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from django_saga.models import OutboxMessage, Saga
from tests.factories import SagaFactory, SagaStepFactory

DAY = timedelta(days=1)


def finished(state: str, ago: timedelta, name: str = "order", steps: int = 2) -> Saga:
    """A saga that reached ``state`` ``ago``, with steps, history and a sent outbox row."""
    at = timezone.now() - ago
    saga = SagaFactory(
        name=name, state=state, completed_at=at if state in ("completed", "compensated") else None
    )
    for position in range(steps):
        SagaStepFactory(
            saga=saga,
            position=position,
            status="completed" if state == "completed" else "compensated",
            output={"n": position},
            history=[{"kind": "execute", "attempt": 1, "outcome": "completed"}],
        )
    OutboxMessage.objects.create(saga=saga, kind="execute", body="{}", available_at=at, sent_at=at)
    return saga


def remaining() -> set[str]:
    return set(Saga.objects.values_list("pk", flat=True))


def run(*args: str) -> str:
    """What ``saga_purge`` with these arguments prints."""
    out = io.StringIO()
    call_command("saga_purge", *args, stdout=out)
    return out.getvalue()
