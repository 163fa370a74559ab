"""The operator layer: what an operator may do to a saga, declared once.

- ``declaration``: what an action is (``Action``), who asks (``Actor``) and
  what they ask (``Request``), and the rules for reasons;
- ``catalogue``: the table of actions, the one place an action is declared;
- ``apply``: the one way an action runs, checked and recorded under locks;
- ``redrive``: many sagas retried at a pace;
- ``operator``: the manager's operator role (``Operator``);
- ``schedules``: pause, resume and run schedules (``ScheduleOperator``);
- ``pauses``: pause and resume actions and saga names (``PauseOperator``);
- ``permissions``: the actions' permissions, made by ``migrate``.

The console, the JSON API, the admin and ``manage.py saga`` reach sagas
only through this package and the client API.
"""

from __future__ import annotations

from ..flow import pivot_passed
from .apply import relevant_steps
from .catalogue import (
    ACTIONS,
    COMPENSATE,
    PAUSE,
    RESUME,
    RETRY_COMPENSATION,
    RETRY_STEP,
    SKIP_STEP,
    WAKE_STEP,
)
from .declaration import (
    REASON_MAX_CHARS,
    UNATTRIBUTED,
    Action,
    Actor,
    Bulk,
    Data,
    Request,
    json_value,
    reason_of,
    reason_text,
)
from .operator import Operator, action_named
from .redrive import (
    MAX_RATE,
    MIN_RATE,
    REDRIVE_PERMISSION,
    Redrive,
    failed_steps_refusal,
    progress,
    rate_value,
    select,
)

#: The actions on a whole saga, and those on one of its steps.
SAGA_ACTIONS = tuple(action for action in ACTIONS if not action.on_step)
STEP_ACTIONS = tuple(action for action in ACTIONS if action.on_step)

__all__ = [
    "ACTIONS",
    "COMPENSATE",
    "MAX_RATE",
    "MIN_RATE",
    "PAUSE",
    "REASON_MAX_CHARS",
    "REDRIVE_PERMISSION",
    "RESUME",
    "RETRY_COMPENSATION",
    "RETRY_STEP",
    "SAGA_ACTIONS",
    "SKIP_STEP",
    "STEP_ACTIONS",
    "UNATTRIBUTED",
    "WAKE_STEP",
    "Action",
    "Actor",
    "Bulk",
    "Data",
    "Operator",
    "Redrive",
    "Request",
    "action_named",
    "failed_steps_refusal",
    "json_value",
    "pivot_passed",
    "progress",
    "rate_value",
    "reason_of",
    "reason_text",
    "relevant_steps",
    "select",
]
