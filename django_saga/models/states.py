"""Where a saga and each of its steps stand, and the groups of states other modules ask about.

The values are stored in the ``state`` and ``status`` columns, which check
them; the groups name what the engine, the sweeper, retention and the
operators' side mean by "still moving", "finished" or "waiting for someone".
"""

from __future__ import annotations

from django.db import models


class SagaState(models.TextChoices):
    """Where a saga stands: going forward, done, being undone, or waiting for
    an operator (``failed``, ``halted``, ``compensation_failed``)."""

    STARTED = "started", "started"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"
    COMPENSATING = "compensating", "compensating"
    COMPENSATED = "compensated", "compensated"
    # A compensation handler failed: the saga waits for an operator.
    COMPENSATION_FAILED = "compensation_failed", "compensation failed"
    # A step after the pivot ran out of retries: nothing may be undone any
    # more, so the saga waits for an operator to retry or skip that step.
    HALTED = "halted", "halted (an operator must act)"
    # Started with ``if_active="queue"`` while another saga of its name had
    # its key: it starts when that one, and those queued before it, finish.
    QUEUED = "queued", "queued (waits for its key)"


ACTIVE_STATES = (SagaState.STARTED, SagaState.COMPENSATING)
TERMINAL_STATES = (SagaState.COMPLETED, SagaState.COMPENSATED)
#: States in which a saga does not hold its business key: it has finished,
#: or waits in the queue of the saga that holds it.
KEY_FREE_STATES = (*TERMINAL_STATES, SagaState.QUEUED)
#: Sagas that stopped and wait for an operator to decide what comes next.
WAITING_FOR_OPERATOR = (SagaState.FAILED, SagaState.HALTED, SagaState.COMPENSATION_FAILED)
#: Saga states in which a dispatched step runs: going forward, or waiting
#: for an operator who may choose to go forward.
FORWARD_STATES = (SagaState.STARTED, SagaState.FAILED, SagaState.HALTED)


class StepStatus(models.TextChoices):
    """Where one step stands: on its way forward, done, or on its way back."""

    # Declared, not dispatched yet.
    PENDING = "pending", "pending"
    # Dispatched: its execute message is on its way to an engine.
    STARTED = "started", "started"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"
    # Its compensate message is on its way to an engine.
    COMPENSATING = "compensating", "compensating"
    COMPENSATED = "compensated", "compensated"
    COMPENSATION_FAILED = "compensation_failed", "compensation failed"
    # Its handler started outside work and returned Pending: it waits for
    # manager.complete_step()/fail_step() (or the webhook) or its timeout.
    WAITING = "waiting", "waiting"
    # Its handler returned Skip: done, and nothing to compensate.
    SKIPPED = "skipped", "skipped"
    # Never ran: the saga was compensated before its turn came.
    CANCELLED = "cancelled", "cancelled"


#: Steps whose outcome is still to come: an engine runs them or an outside event is due.
IN_FLIGHT = (StepStatus.STARTED, StepStatus.WAITING)
#: Steps a stage counts as finished when deciding whether the next stage may start.
DONE = (StepStatus.COMPLETED, StepStatus.SKIPPED)

#: The action of a sleep step (``django_saga.Sleep``): no handler runs it; it
#: completes when its time comes (its ``timeout_at`` holds the time, once known).
#: A saga that sleeps is not stuck, however long ago it last moved.
SLEEP_ACTION = "saga.sleep"

#: The action of a map stage's own row (``django_saga.each``): no handler runs
#: it; its message makes one step row per item of a list, and it completes
#: when they have all ended (see ``django_saga.maps``).
MAP_ACTION = "saga.map"

#: The action of a child step (``Step.child``): no handler runs it; its
#: message starts a saga of its own, and it completes, fails or is undone as
#: that child saga ends (see ``django_saga.children``).
CHILD_ACTION = "saga.child"

#: The action of a task step (``django_saga.Task``): no handler runs it; its
#: message offers a task to people, and it completes or fails as one of them
#: answers (see ``django_saga.tasks``).
TASK_ACTION = "saga.task"
