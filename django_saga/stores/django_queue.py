"""The Django store's queues of business keys: sagas started with
``if_active="queue"`` wait, ``queued``, for the saga that holds their key."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef

from ..models import KEY_FREE_STATES, TERMINAL_STATES, Saga, SagaState, SagaStep
from .base import Unit


class DjangoKeyQueue:
    """The key-queue half of ``DjangoStore``, on its database (``using``)."""

    using: str

    def create(self, saga: Saga, steps: list[SagaStep]) -> object:
        raise NotImplementedError

    def enqueue(self, saga: Saga, steps: list[SagaStep], holder_id: str) -> bool:
        with transaction.atomic(using=self.using):
            # The holder's row, locked: it cannot finish, and so miss the
            # queue, until this saga is in it.
            holder = (
                Saga.objects.using(self.using)
                .select_for_update()
                .filter(pk=holder_id)
                .values_list("state", flat=True)
                .first()
            )
            if holder is None or holder in TERMINAL_STATES:
                return False
            Saga.objects.using(self.using).filter(pk=holder_id).update(has_queue=True)
            saga.state = SagaState.QUEUED
            with self.create(saga, steps) as unit:  # type: ignore[attr-defined]
                assert isinstance(unit, Unit)
        return True

    def stranded_queued(self, limit: int) -> list[str]:
        sagas = Saga.objects.using(self.using)
        held = sagas.filter(name=OuterRef("name"), key=OuterRef("key")).exclude(
            state__in=KEY_FREE_STATES
        )
        queued = (
            sagas.filter(state=SagaState.QUEUED)
            .annotate(held=Exists(held))
            .filter(held=False)
            .order_by("id")
            .values_list("pk", "name", "key")[: limit * 10]
        )
        first: dict[tuple[str, str], str] = {}
        for pk, name, key in queued:
            first.setdefault((name, key), pk)
        return list(first.values())[:limit]
