"""Whole-saga changes by hand: ``HandOperations``, and ``HandUpdates``, which
writes two of them once over a store's own units of work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .. import clock, validation
from ..errors import InvalidStateTransition, SagaNotFound

if TYPE_CHECKING:
    from ..models import Saga


@runtime_checkable
class HandOperations(Protocol):
    """Whole-saga operations by hand, for a project's scripts, fixtures and
    repairs: both shipped stores offer them, django-saga never calls them.

    ``update_saga_step`` and ``update_saga_state`` set what they are told;
    ``HandUpdates`` writes them once over a store's own ``open_saga``.
    """

    def save_saga(self, saga: Saga) -> None: ...
    def delete_saga(self, saga_id: str) -> None: ...
    def update_saga_step(
        self,
        saga_id: str,
        step_id: str,
        status: str,
        output: dict | None = None,
        error: str = "",
    ) -> Saga: ...
    def update_saga_state(self, saga_id: str, state: str) -> Saga: ...


class HandUpdates:
    """The two hand updates of ``HandOperations``, written once over a store's units of work.

    They set what they are told: the saga completes when every step is done,
    and any other derivation (failure, compensation) is the engine's to make.
    """

    def update_saga_step(
        self: Any,
        saga_id: str,
        step_id: str,
        status: str,
        output: dict | None = None,
        error: str = "",
    ) -> Saga:
        from ..models import DONE, SagaState, StepStatus

        if status not in StepStatus.values:
            raise ValueError(f"Unknown step status {status!r}; expected one of {StepStatus.values}")
        error = validation.text(error, "error", validation.ERROR_MAX_CHARS, blank=True)
        data = None if output is None else validation.to_json(output, "output")
        # Every step row, not only this one: an engine running another step
        # of the saga counts on its own step's lock to keep writers away.
        with self.open_saga(saga_id) as unit:
            step = next((s for s in unit.saga.steps if s.pk == step_id), None)
            if step is None:
                raise SagaNotFound(f"No step {step_id!r} in saga {saga_id!r}")
            step.status, step.error = status, error
            fields = ["status", "error"]
            if data is not None:
                step.output = data
                fields.append("output")
            unit.save_step(step, fields)
            steps = unit.lock_saga()
            saga = unit.saga
            if saga.state == SagaState.STARTED and all(s.status in DONE for s in steps):
                saga.state = SagaState.COMPLETED
                saga.completed_at = clock.now()
                unit.save_saga_fields(["state", "completed_at"])
            else:
                unit.touch()
        return self.load_saga(saga_id)

    def update_saga_state(self: Any, saga_id: str, state: str) -> Saga:
        from ..models import TERMINAL_STATES, SagaState

        if state not in SagaState.values:
            raise InvalidStateTransition(
                f"Unknown saga state {state!r}; expected one of {SagaState.values}"
            )
        with self.open_saga(saga_id) as unit:
            saga = unit.saga
            saga.state = state
            saga.completed_at = clock.now() if state in TERMINAL_STATES else None
            unit.save_saga_fields(["state", "completed_at"])
        return self.load_saga(saga_id)
