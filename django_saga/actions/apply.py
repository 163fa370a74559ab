"""Running an action: check it under the saga's row locks, change, record.

One function for every action and every door, so that each refuses and
records alike: the check and the change happen in the unit that holds the
saga's rows, and the trail's entry commits with the change or not at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q

from .. import clock
from ..errors import InvalidStateTransition
from ..models import Intervention, SagaStep, find_step
from .declaration import Request

if TYPE_CHECKING:
    from ..stores.base import Unit


def apply(unit: Unit, request: Request) -> Intervention | None:
    """Check ``request`` under the unit's locks, make the change, and record it.

    Returns None when the change found nothing to do (a compensation asked,
    not strictly, of a saga already compensating): nothing is recorded.
    """
    action = request.action
    saga = unit.saga
    steps = unit.lock_saga()
    # An operator's unit holds every step, a map's items too: any may be named.
    step = find_step(saga.pk, saga.steps, request.step) if action.on_step else None
    if request.strict or not action.forgiving:
        why = action.refuse(saga, steps, step)
        if why is not None:
            raise InvalidStateTransition(why)
    details: dict[str, Any] = {"state": saga.state}
    if not action.change(unit, step, request, details):
        return None
    if request.delay:
        details["delay"] = round(request.delay, 3)
    entry = Intervention(
        saga_id=saga.pk,
        action=action.name,
        step=step.name if step is not None else "",
        actor=request.actor.name,
        reason=request.reason,
        details=details,
        batch=request.batch,
        at=clock.now(),
    )
    unit.record(entry, request.actor.user)
    return entry


def relevant_steps(saga_id: str, step: str = "") -> list[SagaStep]:
    """The steps that decide whether an action applies: the saga's pivot,
    and the step acted on (by name or id). A saga of ten thousand steps
    loads two."""
    query = Q(pivot=True)
    if step:
        query |= Q(name=step) | Q(pk=step)
    return list(SagaStep.objects.filter(query, saga_id=saga_id).order_by("position"))
