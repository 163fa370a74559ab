"""The app's rows: sagas, their steps, the outbox, the operators' trail, API tokens.

What lives where:

- ``ids``: :func:`new_id`, the ULID every row's primary key is;
- ``states``: :class:`SagaState`, :class:`StepStatus` and the groups of them
  other modules ask about (``ACTIVE_STATES``, ``TERMINAL_STATES``,
  ``WAITING_FOR_OPERATOR``, ``IN_FLIGHT``, ``DONE``);
- ``saga``: :class:`Saga` and its queryset;
- ``step``: :class:`SagaStep` and the report token an outside result carries;
- ``outbox``: :class:`OutboxMessage`, what the relay publishes;
- ``trail``: :class:`Intervention`, what operators did;
- ``tokens``: :class:`ApiToken`, the JSON API's bearer tokens;
- ``schedule``: :class:`Schedule`, its :class:`ScheduleRun` rows and its
  trail, :class:`ScheduleIntervention`;
- ``flow``: :class:`HeldMessage`, a message waiting for a slot of a limited
  action or for a pause to end, :class:`RateTurn`, the next turn of a
  rate-limited action, :class:`Pause`, an operator's pause of actions
  or saga names (its :class:`Scope`), and :class:`ActionRuns`, the runs of
  limited actions engines report;
- ``task``: :class:`SagaTask`, what a task step asks people, and its
  :class:`TaskOffer` rows (whom it is offered to).

Django finds the models because this module imports them; they keep the
app label ``django_saga`` and their tables. The names below are the
package's public ones; import them from here.
"""

from __future__ import annotations

from .ids import SAGA_ID_MAX_CHARS, new_id, plausible, saga_id_of
from .states import (
    ACTIVE_STATES,
    CHILD_ACTION,
    DONE,
    FORWARD_STATES,
    IN_FLIGHT,
    KEY_FREE_STATES,
    MAP_ACTION,
    SLEEP_ACTION,
    TASK_ACTION,
    TERMINAL_STATES,
    WAITING_FOR_OPERATOR,
    SagaState,
    StepStatus,
)

# isort: off
# Django registers the models in the order they are imported: the saga, its
# steps, the outbox, the trail, the tokens, as when they shared one module.
from .saga import ACTIVE_KEY_CONSTRAINT, KEY_MAX_CHARS, Saga, SagaQuerySet
from .step import REPORT_TOKEN_CHARS, SagaStep, find_step
from .outbox import OutboxMessage
from .trail import Intervention
from .tokens import ApiToken
from .schedule import (
    SCHEDULE_NAME_MAX_CHARS,
    Missed,
    Overlap,
    Schedule,
    ScheduleIntervention,
    ScheduleRun,
    Source,
)
from .flow import RATE_WINDOW, RUNS_KEPT, ActionRuns, HeldMessage, Pause, RateTurn, Scope
from .task import TASK_LIVE_STATES, OfferKind, SagaTask, TaskOffer, TaskState

# isort: on

__all__ = [
    "ACTIVE_KEY_CONSTRAINT",
    "ACTIVE_STATES",
    "CHILD_ACTION",
    "DONE",
    "FORWARD_STATES",
    "IN_FLIGHT",
    "KEY_FREE_STATES",
    "KEY_MAX_CHARS",
    "MAP_ACTION",
    "RATE_WINDOW",
    "REPORT_TOKEN_CHARS",
    "RUNS_KEPT",
    "SAGA_ID_MAX_CHARS",
    "SCHEDULE_NAME_MAX_CHARS",
    "SLEEP_ACTION",
    "TASK_ACTION",
    "TASK_LIVE_STATES",
    "TERMINAL_STATES",
    "WAITING_FOR_OPERATOR",
    "ActionRuns",
    "ApiToken",
    "HeldMessage",
    "Intervention",
    "Missed",
    "OfferKind",
    "OutboxMessage",
    "Overlap",
    "Pause",
    "RateTurn",
    "Saga",
    "SagaQuerySet",
    "SagaState",
    "SagaStep",
    "SagaTask",
    "Schedule",
    "ScheduleIntervention",
    "ScheduleRun",
    "Scope",
    "Source",
    "StepStatus",
    "TaskOffer",
    "TaskState",
    "find_step",
    "new_id",
    "plausible",
    "saga_id_of",
]
