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
from .children import child_message, compensate_child, settle_child
from .dispatch import dispatch, start
from .fanout import FANNED_OUT, map_message
from .forward import (
    advance,
    outside_result,
    resend_in_flight,
    step_cancelled,
    step_failed,
    step_skipped,
    step_succeeded,
    step_waiting,
    wait_ran_out,
)
from .gate import admit, may_run
from .history import (
    CANCELLED,
    COMPENSATED,
    COMPLETED,
    EARLY,
    FAILED,
    OPERATOR,
    OUTSIDE,
    RESUMED,
    RETRYING,
    SKIPPED,
    SKIPPED_BY_HAND,
    SLEEPING,
    WAITED,
    WOKEN,
    on_timeout,
    pivot_passed,
    record,
    to_undo,
    wait_undone,
    waited,
)
from .queues import cancel_queued, saga_finished, start_queued
from .repair import resume_forward, retry_step, skip_step
from .sleep import sleep_message, sleep_until, woke
from .task import ESCALATED, OFFERED, answer, escalate, offers, task_message
from .task_ends import cancel_tasks, end_task

__all__ = [
    "CANCELLED",
    "COMPENSATED",
    "COMPLETED",
    "EARLY",
    "ESCALATED",
    "FAILED",
    "FANNED_OUT",
    "OFFERED",
    "OPERATOR",
    "OUTSIDE",
    "RESUMED",
    "RETRYING",
    "SKIPPED",
    "SKIPPED_BY_HAND",
    "SLEEPING",
    "WAITED",
    "WOKEN",
    "admit",
    "advance",
    "answer",
    "begin_compensation",
    "cancel_queued",
    "cancel_tasks",
    "child_message",
    "compensate_child",
    "compensation_failed",
    "compensation_succeeded",
    "continue_compensation",
    "deadline_passed",
    "dispatch",
    "end_task",
    "escalate",
    "map_message",
    "may_run",
    "offers",
    "on_timeout",
    "outside_result",
    "past_pivot_refusal",
    "pivot_passed",
    "record",
    "request_compensation",
    "resend_in_flight",
    "resume_compensation",
    "resume_forward",
    "retry_step",
    "saga_finished",
    "send_compensation",
    "settle_child",
    "skip_step",
    "sleep_message",
    "sleep_until",
    "start",
    "start_queued",
    "step_cancelled",
    "step_failed",
    "step_skipped",
    "step_succeeded",
    "step_waiting",
    "task_message",
    "to_undo",
    "wait_ran_out",
    "wait_undone",
    "waited",
    "woke",
]
