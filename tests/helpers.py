"""Small helpers the tests share."""

from __future__ import annotations

from django_saga import Step, manager
from django_saga.models import Saga

from .conftest import wait_for


def ledger(*sagas: Saga) -> list[str]:
    """The test handlers' effects on the sagas' steps (``do:name``,
    ``undo:name``), in the order they committed."""
    from tests.testapp.models import Ledger

    ids = [step.id for saga in sagas for step in saga.steps]
    return list(
        Ledger.objects.filter(step_id__in=ids).order_by("id").values_list("action", flat=True)
    )


def steps(*specs: tuple[str, str, str]) -> list[Step]:
    """``steps(("a", "test.record", "test.undo"), ...)`` with an input naming the step."""
    return [Step(name, action, comp, {"step": name}) for name, action, comp in specs]


def wait_terminal(saga_id: str, timeout: float = 20.0) -> Saga:
    """Wait until the saga is completed, compensated, failed or compensation_failed."""

    def done() -> Saga | None:
        saga = manager.get(saga_id)
        return None if saga.is_active() else saga

    result = wait_for(done, timeout, f"saga {saga_id} to finish")
    assert isinstance(result, Saga)
    return result


def unsent(store: object) -> int:
    """Outbox rows not yet sent, in either store (the Store protocol has no
    such count: only tests ask)."""
    from django_saga.models import OutboxMessage

    outbox = getattr(store, "_outbox", None)
    if outbox is not None:  # the in-memory store
        return sum(1 for row in outbox.values() if row.sent_at is None)
    return OutboxMessage.objects.filter(sent_at__isnull=True).count()
