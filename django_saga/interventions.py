"""What an operator may do to a saga, when, and the record of who did it and why.

One rule set serves every door (manager, console, JSON API, admin, command
line): ``refusal()`` says in a sentence why an action does not apply to a
saga as it stands, the console uses it to offer only what applies, and
``apply()`` checks it again under the saga's row locks, then makes the
change and records an ``Intervention`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, QuerySet

from . import clock, flow, validation
from .errors import (
    InvalidStateTransition,
    LimitExceeded,
    SagaDefinitionError,
    SagaNotFound,
    brief,
)
from .models import WAITING_FOR_OPERATOR, Intervention, Saga, SagaState, SagaStep, StepStatus

if TYPE_CHECKING:
    from .stores.base import Unit

COMPENSATE = Intervention.Action.COMPENSATE
RETRY_COMPENSATION = Intervention.Action.RETRY_COMPENSATION
RETRY_STEP = Intervention.Action.RETRY_STEP
SKIP_STEP = Intervention.Action.SKIP_STEP

#: The longest reason an operator may give.
REASON_MAX_CHARS = 2000
#: Who did it, when the caller did not say.
UNATTRIBUTED = "unattributed"

#: States in which a failed step waits for an operator to retry or skip it.
_REPAIRABLE = (SagaState.FAILED, SagaState.HALTED)
#: States in which a waiting step may be completed by hand.
_WAITING_OK = (SagaState.STARTED, *_REPAIRABLE)


@dataclass(frozen=True)
class Actor:
    """Who asks: a name for the trail, and the Django user for the admin log, if any."""

    name: str
    user: Any = None

    @classmethod
    def of(cls, by: Any) -> Actor:
        """``by`` as given to the manager: a user, a name, an ``Actor`` or None."""
        if isinstance(by, Actor):
            return by
        if by is None or by == "":
            return cls(UNATTRIBUTED)
        if isinstance(by, str):
            return cls(validation.text(by, "by (who acts)", 200, plain=validation.LABEL))
        if getattr(by, "is_authenticated", False) and getattr(by, "pk", None) is not None:
            return cls(str(by.get_username())[:200], by)
        raise SagaDefinitionError(f"by must be a user, a name or None, got {type(by).__name__}")


@dataclass
class Request:
    """One action asked of one saga: what, on which step, by whom, why."""

    action: str
    actor: Actor
    reason: str = ""
    step: str = ""
    input: dict | None = None
    output: dict | None = None
    #: Seconds from now until the step or compensation is sent (a re-drive's pacing).
    delay: float = 0.0
    batch: str = ""


def reason_text(reason: Any, required: bool = False) -> str:
    """A reason as the trail stores it; ``required`` refuses a blank one."""
    if reason is None:
        reason = ""
    text = validation.text(
        reason, "reason", REASON_MAX_CHARS, blank=True, plain=validation.PROSE
    ).strip()
    if required and not text:
        raise SagaDefinitionError("A reason is required: say why, for whoever reads the trail")
    return text


def reason_of(actor: Actor, reason: Any) -> str:
    """The one rule for reasons, whatever the door: whoever is named as acting
    (a user, a name) says why; code that names no one may leave it blank, and
    the trail records it as unattributed."""
    return reason_text(reason, required=actor.name != UNATTRIBUTED)


def find_step(saga: Saga, steps: Sequence[SagaStep], name_or_id: str) -> SagaStep:
    for step in steps:
        if name_or_id in (step.name, step.pk):
            return step
    raise SagaNotFound(f"Saga {saga.pk} has no step {name_or_id!r}")


def refusal(action: str, saga: Saga, steps: Sequence[SagaStep], step: str = "") -> str | None:
    """Why ``action`` cannot apply to ``saga`` as it stands, as a sentence
    naming the saga; None if it can."""
    state = saga.state
    label = SagaState(state).label if state in SagaState.values else state
    pivot = flow.pivot_passed(steps)
    if action == COMPENSATE:
        if state == SagaState.COMPENSATING:
            return f"Saga {saga.pk} is already being compensated."
        if state == SagaState.COMPENSATED:
            return f"Saga {saga.pk} is already compensated."
        if state == SagaState.COMPENSATION_FAILED:
            return f"Saga {saga.pk} has a compensation that failed: retry the compensation instead."
        if pivot is not None:
            return flow.past_pivot_refusal(saga.pk, pivot) + "."
        return None
    if action == RETRY_COMPENSATION:
        if state != SagaState.COMPENSATION_FAILED:
            return (
                f"Saga {saga.pk} is {label}; only a saga whose compensation failed "
                "can have it retried."
            )
        return None
    if action not in (RETRY_STEP, SKIP_STEP):
        raise ValueError(f"Unknown operator action {action!r}")
    target = find_step(saga, steps, step)
    name = target.name
    if target.status == StepStatus.FAILED and state in _REPAIRABLE:
        return None
    if action == SKIP_STEP and target.status == StepStatus.WAITING and state in _WAITING_OK:
        return None
    what = "retried" if action == RETRY_STEP else "skipped"
    if target.status == StepStatus.FAILED:
        return (
            f"Saga {saga.pk} is {label}; its failed step {name!r} can be {what} only "
            "while the saga is failed or halted."
        )
    if action == SKIP_STEP and target.status == StepStatus.WAITING:
        return (
            f"Saga {saga.pk} is {label}; its waiting step {name!r} can be skipped only "
            "while the saga goes forward or waits for an operator."
        )
    only = "a failed step" if action == RETRY_STEP else "a failed or waiting step"
    return f"Step {name!r} of saga {saga.pk} is {target.status}; only {only} can be {what}."


def apply(unit: Unit, request: Request) -> Intervention | None:
    """Check ``request`` under the unit's locks, make the change, and record it.

    Returns None for a compensation asked of a saga already compensating:
    nothing changes, so nothing is recorded.
    """
    saga = unit.saga
    steps = unit.lock_saga()
    before = saga.state
    details: dict[str, Any] = {"state": before}
    if request.action == COMPENSATE:
        # The manager's compensate() keeps its meaning: a no-op while under
        # way, a retry of what failed on a saga whose compensation failed.
        if not flow.request_compensation(unit):
            return None
    else:
        why = refusal(request.action, saga, steps, request.step)
        if why is not None:
            raise InvalidStateTransition(why)
    note = {"by": request.actor.name, **({"reason": request.reason} if request.reason else {})}
    if request.action == RETRY_COMPENSATION:
        flow.resume_compensation(unit, request.delay)
    elif request.action in (RETRY_STEP, SKIP_STEP):
        step = find_step(saga, steps, request.step)
        details["step_error"] = step.error
        if request.action == RETRY_STEP:
            if request.input is not None:
                details["input"] = request.input
                details["previous_input"] = step.input
            flow.retry_step(unit, step, request.input, request.delay, note)
        else:
            details["output"] = request.output
            details["step_status"] = step.status
            flow.skip_step(unit, step, request.output or {}, note)
    if request.delay:
        details["delay"] = round(request.delay, 3)
    entry = Intervention(
        saga_id=saga.pk,
        action=request.action,
        step=find_step(saga, steps, request.step).name if request.step else "",
        actor=request.actor.name,
        reason=request.reason,
        details=details,
        batch=request.batch,
        at=clock.now(),
    )
    unit.record(entry, request.actor.user)
    return entry


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
        why = refusal(RETRY_STEP, saga, steps, step.name)
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
            request = Request(RETRY_STEP, actor, reason, step=step.name, delay=delay, batch=batch)
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


def json_value(value: Mapping[str, Any] | None, what: str) -> dict | None:
    """An operator's input or output: a JSON object within the project's limits."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise SagaDefinitionError(f"{what} must be a JSON object, got {type(value).__name__}")
    return validation.to_json(dict(value), what)
