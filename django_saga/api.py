"""The public entry point: ``manager``, one object for every role.

``Manager`` joins the three roles, each in its own module: the client
(``client``: start, read, report outside results), the operator
(``actions.operator``: act on sagas, re-drive them, read the trail), the
schedules' operator (``actions.schedules``: pause, resume, run now), the
people who answer task steps (``actions.tasks``) and the
engine's lifecycle (``lifecycle``: run and stop an engine in this thread).
Importing it loads no engine: that happens when ``run()`` is called.
"""

from __future__ import annotations

from .actions.operator import Operator
from .actions.pauses import PauseOperator
from .actions.redrive import Redrive
from .actions.schedules import ScheduleOperator
from .actions.tasks import TaskOperator
from .client import QUEUE, RAISE, RETURN, SagaRef
from .lifecycle import EngineLifecycle
from .stores import Store

__all__ = ["QUEUE", "RAISE", "RETURN", "Manager", "Redrive", "SagaRef", "manager"]


class Manager(Operator, ScheduleOperator, PauseOperator, TaskOperator, EngineLifecycle):
    """Starts, reads and repairs sagas, and runs the engine.

    Client: ``start``, ``start_definition``, ``get``, ``find``, ``resolve``,
    ``children``, ``list_active``, ``complete_step``, ``fail_step``,
    ``record_outside_result``. Operator: ``act``, ``compensate``,
    ``retry_compensation``, ``retry_step``, ``skip_step``, ``wake_step``,
    ``pause_saga``, ``resume_saga``, ``redrive``, ``interventions``.
    Schedules: ``schedules``, ``schedule``, ``schedule_runs``,
    ``pause_schedule``, ``resume_schedule``, ``run_schedule``,
    ``schedule_interventions``. Flow: ``pause``, ``resume``, ``pauses``.
    Tasks: ``tasks``, ``task_counts``, ``task``, ``claim_task``,
    ``release_task``, ``delegate_task``, ``complete_task``, ``reject_task``.
    Engine: ``run``, ``stop``, ``close``.

    Without an explicit store it uses the one ``SAGA['STORE']`` names, looked
    up on every call so settings overrides apply.
    """

    def __init__(self, store: Store | None = None) -> None:
        Operator.__init__(self, store)
        EngineLifecycle.__init__(self)


manager = Manager()
