"""The Django unit's flow control: slots, held messages, pauses in force,
and the next saga of its key's queue, read and written in its transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ..models import HeldMessage, Pause, Saga, SagaState

if TYPE_CHECKING:
    from ..limits import Gate
    from ..messages import StepMessage
    from .base import Unit
    from .django import DjangoStore


class DjangoUnitFlow:
    """The flow-control half of ``DjangoUnit``."""

    store: DjangoStore
    saga: Saga
    slots: set[int]
    cursor: Any

    def take_slot(self, gate: Gate) -> bool:
        return self.store.take_slot(self.cursor, gate, self.slots, queued_first=True)

    def hold_message(
        self,
        message: StepMessage,
        action: str,
        key: str = "",
        paused: bool = False,
        pause_id: int | None = None,
    ) -> None:
        held = HeldMessage(
            saga_id=message.saga_id,
            step_id=message.step_id,
            kind=message.kind,
            attempt=message.attempt,
            action=action,
            key=key,
            paused=paused,
            pause_id=pause_id,
        )
        HeldMessage.objects.using(self.store.using).bulk_create([held], ignore_conflicts=True)

    def next_queued(self) -> str | None:
        saga = self.saga
        if not saga.key:
            return None
        queued = Saga.objects.using(self.store.using).filter(
            name=saga.name, key=saga.key, state=SagaState.QUEUED
        )
        return queued.exclude(pk=saga.pk).order_by("id").values_list("pk", flat=True).first()

    def active_pauses(self) -> list[Pause]:
        return list(Pause.objects.using(self.store.using).filter(resumed_at__isnull=True))

    def release_paused(self) -> int:
        rows = HeldMessage.objects.using(self.store.using).filter(
            saga_id=self.saga.pk, paused=True, pause_id__isnull=True
        )
        held = list(rows.values_list("pk", "step_id", "kind", "attempt"))
        for _, step_id, kind, attempt in held:
            cast("Unit", self).send_to(self.saga.pk, step_id, kind, attempt)
        rows.filter(pk__in=[pk for pk, *_ in held]).delete()
        return len(held)
