"""The saga state machine: what happens after a step succeeds, fails or is undone.

Every function here runs inside one unit of work (see ``stores.base.Unit``):
the changes it makes and the messages it sends commit together. The
machine is read in four parts: a step's ``history`` and what it tells,
going ``forward``, going ``backward`` (compensation), and an operator's
``repair`` of a failed step. Callers use the names this package exports.
"""

from .backward import (
    begin_compensation,
    compensation_failed,
    compensation_succeeded,
    continue_compensation,
    deadline_passed,
    past_pivot_refusal,
    request_compensation,
    resume_compensation,
    send_compensation,
)
from .forward import (
    advance,
    dispatch,
    outside_result,
    resend_in_flight,
    start,
    step_cancelled,
    step_failed,
    step_skipped,
    step_succeeded,
    step_waiting,
)
from .history import (
    CANCELLED,
    COMPENSATED,
    COMPLETED,
    FAILED,
    OPERATOR,
    OUTSIDE,
    RESUMED,
    RETRYING,
    SKIPPED,
    SKIPPED_BY_HAND,
    WAITED,
    pivot_passed,
    record,
    to_undo,
    wait_undone,
    waited,
)
from .repair import resume_forward, retry_step, skip_step

__all__ = [
    "CANCELLED",
    "COMPENSATED",
    "COMPLETED",
    "FAILED",
    "OPERATOR",
    "OUTSIDE",
    "RESUMED",
    "RETRYING",
    "SKIPPED",
    "SKIPPED_BY_HAND",
    "WAITED",
    "advance",
    "begin_compensation",
    "compensation_failed",
    "compensation_succeeded",
    "continue_compensation",
    "deadline_passed",
    "dispatch",
    "outside_result",
    "past_pivot_refusal",
    "pivot_passed",
    "record",
    "request_compensation",
    "resend_in_flight",
    "resume_compensation",
    "resume_forward",
    "retry_step",
    "send_compensation",
    "skip_step",
    "start",
    "step_cancelled",
    "step_failed",
    "step_skipped",
    "step_succeeded",
    "step_waiting",
    "to_undo",
    "wait_undone",
    "waited",
]
