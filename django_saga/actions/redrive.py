"""Re-drives: many sagas that wait for an operator, retried at a pace.

A re-drive selects sagas (``select``), checks its rate up front
(``rate_value``), then gives each saga what fits its state, one after
another ``1 / rate`` seconds apart through the outbox, every entry on the
trail naming the re-drive's batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, QuerySet

from .. import clock, validation
from ..errors import InvalidStateTransition, LimitExceeded, SagaDefinitionError, brief
from ..models import WAITING_FOR_OPERATOR, Intervention, Saga, SagaState, SagaStep, StepStatus
from .apply import apply
from .catalogue import RETRY_COMPENSATION, RETRY_STEP
from .declaration import APP_LABEL, Actor, Request

if TYPE_CHECKING:
    from ..stores.base import Unit

#: The permission a re-drive needs: it acts on many sagas at once.
REDRIVE_CODENAME = "redrive_sagas"
REDRIVE_PERMISSION = f"{APP_LABEL}.{REDRIVE_CODENAME}"
REDRIVE_PERMISSION_NAME = "Can re-drive failed sagas in bulk"


#: The fastest re-drive: faster than this is no pacing at all.
MAX_RATE = 10_000.0
#: The slowest re-drive, one saga every 366 days: slower, the pacing between two
#: sagas would not fit the longest delay the engine schedules (``clock.MAX_SECONDS``).
MIN_RATE = 1 / clock.MAX_SECONDS


@dataclass
class Redrive:
    """A bulk re-drive: its id, its pace, and what it did to each saga."""

    batch: str
    rate: float
    scheduled: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: When the first and the last saga scheduled are sent.
    first_at: datetime | None = None
    last_at: datetime | None = None

    def delay(self, now: datetime) -> float:
        """Seconds from ``now`` until the next saga may be sent: ``1 / rate``
        after the previous one, and never sooner, however long writing the
        sagas took (a lock wait delays what follows; it never bunches it)."""
        if self.last_at is None:
            return 0.0
        return max(0.0, (self.last_at - now).total_seconds() + 1 / self.rate)

    @property
    def seconds(self) -> float:
        """How long after the first saga the last one is sent."""
        if self.first_at is None or self.last_at is None:
            return 0.0
        return (self.last_at - self.first_at).total_seconds()


def rate_value(rate: Any, count: int = 1) -> float:
    """A re-drive's rate in sagas a second: a finite number from ``MIN_RATE`` to
    ``MAX_RATE``, at which the last of ``count`` sagas is sent within 366 days.

    Checked before any saga is touched, so that a rate the engine cannot
    schedule refuses the whole re-drive instead of failing halfway through.
    """
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise SagaDefinitionError(f"rate must be a number of sagas a second, got {brief(rate)}")
    if not 0 < rate <= MAX_RATE:  # also refuses NaN
        raise SagaDefinitionError(
            f"rate must be above 0 and at most {MAX_RATE:g} sagas a second, got {brief(rate)}"
        )
    if rate < MIN_RATE:
        raise LimitExceeded(
            f"rate must be at least {MIN_RATE:.3g} sagas a second (one every 366 days, the "
            f"longest delay the engine schedules), got {brief(rate)}"
        )
    last = (count - 1) / rate
    if last > clock.MAX_SECONDS:
        raise LimitExceeded(
            f"rate {rate:.3g} sagas a second would send the last of {count:,} sagas "
            f"{last / 86400:,.0f} days from now, over the limit of 366 days: give a rate of "
            f"at least {(count - 1) / clock.MAX_SECONDS:.3g}, or fewer sagas"
        )
    return float(rate)


def failed_steps_refusal(
    saga: Saga, steps: Sequence[SagaStep], *, compensations: bool = False
) -> str | None:
    """Why retrying the saga's failed steps (``compensations``: or its failed
    compensations, as a re-drive does) does not apply; None if it does."""
    if compensations and saga.state == SagaState.COMPENSATION_FAILED:
        return None
    failed = [s for s in steps if s.status == StepStatus.FAILED]
    for step in failed:
        if step.is_map and "items" in step.output:
            continue  # retried through its failed items, each a step like any other
        why = RETRY_STEP.refusal(saga, steps, step.name)
        if why is not None:
            return why
    if failed:
        return None
    label = SagaState(saga.state).label if saga.state in SagaState.values else saga.state
    waits = "failed, halted or whose compensation failed" if compensations else "failed or halted"
    return (
        f"Saga {saga.pk} is {label} with no failed step; only sagas that are "
        f"{waits} can be retried."
    )


def redrive_one(unit: Unit, actor: Actor, reason: str, redrive: Redrive) -> datetime:
    """Retry what a saga waiting for an operator needs retried, at the re-drive's
    pace; when it is sent. The time is taken under the saga's locks, just
    before the unit commits, so a wait for them cannot shorten the spacing."""
    now = clock.now()
    delay = redrive.delay(now)
    batch = redrive.batch
    saga = unit.saga
    steps = unit.lock_saga()
    why = failed_steps_refusal(saga, steps, compensations=True)
    if why is not None:
        raise InvalidStateTransition(why)
    if saga.state == SagaState.COMPENSATION_FAILED:
        apply(unit, Request(RETRY_COMPENSATION, actor, reason, delay=delay, batch=batch))
    else:
        for step in [s for s in steps if s.status == StepStatus.FAILED]:
            # A map that failed is retried through its failed items.
            retried = unit.items(step, [StepStatus.FAILED]) if step.is_map else [step]
            for failed in retried or [step]:
                request = Request(
                    RETRY_STEP, actor, reason, step=failed.name, delay=delay, batch=batch
                )
                apply(unit, request)
    return now + timedelta(seconds=delay)


def select(
    *,
    name: str = "",
    states: Sequence[str] = (),
    error: str = "",
    older_than: timedelta | None = None,
    using: str = "default",
) -> QuerySet[Saga]:
    """Sagas waiting for an operator, oldest first, as a re-drive selects them.

    ``states`` among ``failed``, ``halted`` and ``compensation_failed`` (all
    three if empty); ``error`` a text the saga's error contains (any case);
    ``older_than`` how long at least since the saga last changed.
    """
    chosen = tuple(states) or WAITING_FOR_OPERATOR
    wrong = [state for state in chosen if state not in WAITING_FOR_OPERATOR]
    if wrong:
        raise SagaDefinitionError(
            f"A re-drive selects sagas that wait for an operator "
            f"({', '.join(WAITING_FOR_OPERATOR)}), not {', '.join(map(repr, wrong))}"
        )
    queryset = Saga.objects.using(using).filter(state__in=chosen)
    if name:
        queryset = queryset.filter(name=validation.text(name, "name", validation.NAME_MAX_CHARS))
    if error:
        text = validation.text(error, "error", validation.ERROR_MAX_CHARS)
        queryset = queryset.filter(error__icontains=text)
    if older_than is not None:
        older_than = validation.age_span(older_than, "older_than")
        queryset = queryset.filter(updated_at__lt=clock.now() - older_than)
    return queryset.order_by("pk")


def progress(batch: str, using: str = "default") -> dict[str, int]:
    """How many sagas of the re-drive ``batch`` are in each state now."""
    rows = (
        Intervention.objects.using(using)
        .filter(batch=batch)
        .values("saga__state")
        .annotate(n=Count("saga", distinct=True))
        .order_by()
    )
    return {row["saga__state"]: row["n"] for row in rows}
