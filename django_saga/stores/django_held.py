"""The Django store's flow control: slots of limited actions, the messages
that wait for one (``HeldMessage``), the turns of rate-limited ones, and
the runs engines report (``ActionRuns``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction

from .. import clock
from ..limits import Gate
from ..messages import Outgoing, StepMessage
from ..models import RUNS_KEPT, ActionRuns, HeldMessage, Pause, Saga, new_id
from .base import Held
from .rates import LocalTurns, PostgresTurns
from .slots import LocalSlots, postgres_take

if TYPE_CHECKING:
    from .statements import Statements


class DjangoHeld:
    """The queues half of ``DjangoStore``, on its database (``using``)."""

    using: str
    #: Slots where the database has no advisory locks (one engine).
    _local_slots: LocalSlots
    #: Turns of rate-limited actions.
    _turns: LocalTurns | PostgresTurns

    def statements(self) -> Statements:
        raise NotImplementedError

    def relay_later(self, messages: Sequence[Outgoing]) -> None:
        raise NotImplementedError

    def take_slot(self, cursor: Any, gate: Gate, mine: set[int], queued_first: bool) -> bool:
        """Take a free slot of ``gate`` for the transaction that keeps its
        slots in ``mine``; with ``queued_first``, none while its queue holds
        messages (they came first)."""
        sql = self.statements()
        ids = gate.slot_ids()
        if sql.take_slot is not None and sql.take_slot_for_held is not None:
            if queued_first:
                params = [ids, gate.action, gate.key, gate.kind, list(mine)]
                return postgres_take(cursor, sql.take_slot, params, mine)
            return postgres_take(cursor, sql.take_slot_for_held, [ids, list(mine)], mine)
        if queued_first and self._queue(gate).exists():
            return False
        return self._local_slots.take(ids, mine)

    @contextmanager
    def _giving_back(self, slots: set[int]) -> Iterator[None]:
        """Free the slots a transaction took once it has ended (PostgreSQL
        frees its advisory locks itself)."""
        try:
            yield
        finally:
            if slots:
                self._local_slots.give_back(slots)

    @contextmanager
    def open_held(self, gate: Gate) -> Iterator[Held | None]:
        slots: set[int] = set()
        with self._giving_back(slots), transaction.atomic(using=self.using):
            row = self._queue(gate).select_for_update(skip_locked=True).order_by("id").first()
            if row is None:
                yield None
                return
            with self.statements().cursor() as cursor:
                taken = self.take_slot(cursor, gate, slots, queued_first=False)
            if not taken:
                yield None
                return
            # Gone before it runs (back if the transaction rolls back): a pause
            # that holds it again writes a row of its own.
            HeldMessage.objects.using(self.using).filter(pk=row.pk).delete()
            yield Held(row.pk, StepMessage(row.kind, row.saga_id, row.step_id, row.attempt))

    def held_queues(self, limit: int) -> list[tuple[str, str, str]]:
        return list(
            HeldMessage.objects.using(self.using)
            .filter(paused=False)
            .order_by()
            .values_list("kind", "action", "key")
            .distinct()[:limit]
        )

    def unpause_held(self, limit: int) -> int:
        """Messages of a saga gone are dropped, not sent."""
        held = HeldMessage.objects.using(self.using)
        active = Pause.objects.using(self.using).filter(resumed_at__isnull=True).values("pk")
        with transaction.atomic(using=self.using):
            rows = list(
                held.select_for_update(skip_locked=True)
                .filter(paused=True, pause_id__isnull=False)
                .exclude(pause_id__in=active)
                .order_by("id")[:limit]
            )
            if not rows:
                return 0
            known = set(
                Saga.objects.using(self.using)
                .filter(pk__in={row.saga_id for row in rows})
                .values_list("pk", flat=True)
            )
            messages = [
                StepMessage(row.kind, row.saga_id, row.step_id, row.attempt)
                for row in rows
                if row.saga_id in known
            ]
            if messages:
                self.relay_later(
                    [Outgoing(new_id(), m.kind, m.saga_id, m.encode()) for m in messages]
                )
            held.filter(pk__in=[row.pk for row in rows]).delete()
        return len(messages)

    def _queue(self, gate: Gate) -> Any:
        return HeldMessage.objects.using(self.using).filter(
            action=gate.action, key=gate.key, kind=gate.kind, paused=False
        )

    def take_turn(self, name: str, interval: float) -> float:
        return self._turns.take(name, interval)

    def record_runs(self, runs: Mapping[tuple[str, str], int]) -> None:
        now = clock.now()
        reports = ActionRuns.objects.using(self.using)
        with transaction.atomic(using=self.using):
            reports.bulk_create(
                ActionRuns(kind=kind, action=action, runs=count, reported_at=now)
                for (kind, action), count in runs.items()
            )
            reports.filter(reported_at__lt=now - timedelta(seconds=RUNS_KEPT)).delete()
