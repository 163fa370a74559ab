"""Read-only admin for sagas: state changes go through the manager, never a form.

The operator actions (compensate, retry compensation, retry the failed
steps, re-drive) each need their own permission and first show a page that
lists the selected sagas, says what will happen and asks why (and, for a
re-drive, how fast). The reason and the admin user go on each saga's trail
and into Django's admin log. Each saga whose state does not allow the action
is named in a message with why; the others are handed to the manager one by
one. Skipping a step takes an output, so it is done from the console, which
the saga's page links to. The trail itself (``Intervention``) is listed
read-only, beside each saga and on its own: never added to, changed or deleted
here.

Deleting is refused for whatever the engine still depends on: a saga may be
deleted only once it is ``completed`` or ``compensated`` (a ``failed`` or
``compensation_failed`` saga still has steps to undo), one at a time; an
outbox row only once the broker has confirmed it (an unsent row is the only
record of a message a saga waits for).

A list filter, a page's id or an action's selection holding a NUL character
names no row (PostgreSQL would refuse to compare it): an empty list, the
admin's "doesn't exist", an action that changes nothing.

The modules: ``sagas`` (the list and a saga's page, with ``inlines``),
``bulk`` (the actions on a selection), ``trail``, ``outbox``, ``tokens``,
``schedules`` (schedules, their runs and their trail), ``pauses`` (pauses of
actions and saga names, and the messages held), ``tasks`` (the tasks of task
steps, read-only), over what they share
(``common``). Importing the package registers them all.
"""

from .bulk import MAX_SELECTED, PREVIEW_ROWS, ConfirmPage, SelectionActions
from .common import INLINE_STEPS, INLINE_TRAIL, BoundedPaginator, LatestTrailFormSet
from .outbox import OutboxMessageAdmin
from .pauses import HeldMessageAdmin, PauseAdmin
from .sagas import SagaAdmin
from .schedules import ScheduleAdmin, ScheduleInterventionAdmin
from .tasks import SagaTaskAdmin
from .tokens import ApiTokenAdmin
from .trail import InterventionAdmin

__all__ = [
    "INLINE_STEPS",
    "INLINE_TRAIL",
    "MAX_SELECTED",
    "PREVIEW_ROWS",
    "ApiTokenAdmin",
    "BoundedPaginator",
    "ConfirmPage",
    "HeldMessageAdmin",
    "InterventionAdmin",
    "LatestTrailFormSet",
    "OutboxMessageAdmin",
    "PauseAdmin",
    "SagaAdmin",
    "SagaTaskAdmin",
    "ScheduleAdmin",
    "ScheduleInterventionAdmin",
    "SelectionActions",
]
