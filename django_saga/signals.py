"""Signals sent after a saga or step transition has committed.

Each is sent with ``sender=Saga`` and the keyword arguments ``saga`` (and
``step`` for step signals). Receivers run in the process that made the
transition (an engine, or the one calling ``start()``/``compensate()``),
after the commit: a receiver never sees a transition that rolled back, and
an exception in a receiver cannot undo one.
"""

from django.dispatch import Signal

saga_started = Signal()
saga_completed = Signal()
#: A step failed for good; compensation follows (or waits, without AUTO_COMPENSATE).
saga_failed = Signal()
saga_compensated = Signal()
#: A compensation ran out of attempts: the saga waits for an operator.
saga_compensation_failed = Signal()
#: A step after the pivot failed for good: the saga waits for an operator.
saga_halted = Signal()
#: An operator acted on the saga (keyword ``intervention``: what, by whom, why).
saga_intervention = Signal()

step_completed = Signal()
#: A step failed for good (not sent for attempts that will be retried).
step_failed = Signal()
step_compensated = Signal()
#: The handler returned Pending: the step waits for an outside result.
step_waiting = Signal()
#: The handler returned Skip: the step is done and will not be compensated.
step_skipped = Signal()

#: A schedule's tick was decided, after the commit: keyword ``schedule`` (the
#: row), ``outcome`` (``started``, ``skipped``, ``late`` or ``failed``) and
#: ``count`` (how many ticks).
schedule_ticked = Signal()

#: A task step's task changed, after the commit: ``sender=SagaTask`` and the
#: keyword arguments ``task`` (the row), ``saga`` and ``step``. Sent once per
#: change, by the process that made it (an engine, the sweeper, the console).
#: A task was made and offered.
task_created = Signal()
#: A task passed its due time (before ``on_due``, if any, escalates it).
task_due = Signal()
#: A task past due was offered to other groups (``OfferTo``); ``task.offers``
#: names them.
task_escalated = Signal()
#: Someone claimed, released or delegated a task (``task.claimed_by``).
task_assigned = Signal()
#: A task was completed (by a person, or by ``CompleteWith``): its step went on.
task_completed = Signal()
#: A task was rejected (by a person, or by ``FailTask``): its step failed.
task_rejected = Signal()
#: A task's saga went back, or an operator acted on its step, before anyone answered.
task_cancelled = Signal()
