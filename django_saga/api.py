"""The public entry point: start, inspect and compensate sagas; run the engine."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from . import clock, flow
from .conf import saga_settings
from .definition import Declared, SagaDefinition, Step, normalise_steps, to_json
from .engine import Engine
from .errors import SagaDefinitionError, SagaNotFound, UnknownActionError
from .models import Saga, SagaStep, StepStatus
from .registry import registry
from .stores import Store, get_store


class Manager:
    """Mirrors the spec's Manager: ``start``, ``get``, ``list_active``,
    ``compensate``, ``run``, ``stop``, ``close``.

    Without an explicit store it uses the one ``SAGA['STORE']`` names, looked
    up on every call so settings overrides apply.
    """

    def __init__(self, store: Store | None = None) -> None:
        self._store = store
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        return self._store or get_store()

    def start(
        self,
        name: str,
        steps: Iterable[Declared],
        context: Mapping[str, Any] | None = None,
        *,
        deadline: datetime | timedelta | float | None = None,
    ) -> Saga:
        """Record a new saga and its first messages in one transaction.

        ``steps`` run one after another; ``parallel(...)`` in the list makes a
        stage whose steps run together. Returns at once: no broker round trip
        happens here; the engine's outbox relay publishes the first stage.
        ``deadline`` (a time, or a duration from now) is when a saga still
        running gets compensated.
        """
        return self._create(name, steps, context, deadline)

    def start_definition(
        self,
        definition: SagaDefinition,
        *,
        deadline: datetime | timedelta | float | None = None,
    ) -> Saga:
        """Start a saga from a ``SagaDefinition``, recording its path and version."""
        if not isinstance(definition, SagaDefinition):
            raise SagaDefinitionError(
                f"expected a SagaDefinition instance, got {type(definition).__name__}"
            )
        kind = type(definition)
        return self._create(
            kind.saga_name(),
            definition.steps(),
            definition.context(),
            deadline,
            origin=(kind.path(), str(kind.version)),
        )

    def _create(
        self,
        name: str,
        steps: Iterable[Declared],
        context: Mapping[str, Any] | None,
        deadline: datetime | timedelta | float | None,
        origin: tuple[str, str] = ("", ""),
    ) -> Saga:
        if not isinstance(name, str) or not name.strip():
            raise SagaDefinitionError(f"A saga needs a non-empty name, got {name!r}")
        declared = normalise_steps(steps)
        if context is not None and not isinstance(context, Mapping):
            raise SagaDefinitionError(f"context must be a dict, got {type(context).__name__}")
        saga_context = to_json(dict(context or {}), f"Context of saga {name!r}")
        if saga_settings.CHECK_HANDLERS_ON_START:
            _check_handlers([staged.step for staged in declared])
        saga = Saga(
            name=name,
            context=saga_context,
            deadline_at=_deadline(deadline),
            definition=origin[0],
            version=origin[1],
        )
        records = [
            SagaStep(
                saga=saga,
                position=position,
                stage=staged.stage,
                name=staged.step.name,
                action=staged.step.action,
                compensation=staged.step.compensation,
                input=staged.step.input,
                timeout=_timeout(staged.step),
            )
            for position, staged in enumerate(declared)
        ]
        with self.store.create(saga, records) as unit:
            flow.start(unit)
        return saga

    def get(self, saga_id: str) -> Saga:
        """The saga with its steps; raises ``SagaNotFound``."""
        return self.store.load_saga(saga_id)

    def list_active(self) -> list[Saga]:
        """Sagas still moving: ``started`` or ``compensating``."""
        return self.store.list_active_sagas()

    def compensate(self, saga_id: str) -> Saga:
        """Undo a ``started``, ``failed`` or ``completed`` saga.

        Calling it again while compensation is under way changes nothing;
        on a ``compensated`` saga it raises ``InvalidStateTransition``; on a
        ``compensation_failed`` one it retries the failed compensations.
        """
        with self.store.open_saga(saga_id) as unit:
            flow.request_compensation(unit)
        return self.get(saga_id)

    def retry_compensation(self, saga_id: str) -> Saga:
        """Retry the compensations of a saga in ``compensation_failed``."""
        with self.store.open_saga(saga_id) as unit:
            flow.resume_compensation(unit)
        return self.get(saga_id)

    # -- steps completed from outside --------------------------------------
    def complete_step(
        self, saga_id: str, step: str, output: Mapping[str, Any] | None = None
    ) -> Saga:
        """Complete a ``waiting`` step (by id or name), ``output`` merged into its own.

        Repeating a completion already recorded changes nothing; a step that
        is not waiting raises ``StepNotWaiting``.
        """
        self.record_outside_result(saga_id, step, StepStatus.COMPLETED, output=output)
        return self.get(saga_id)

    def fail_step(self, saga_id: str, step: str, error: str = "") -> Saga:
        """Fail a ``waiting`` step (by id or name): the saga compensates as for any failure."""
        self.record_outside_result(saga_id, step, StepStatus.FAILED, error=error)
        return self.get(saga_id)

    def record_outside_result(
        self,
        saga_id: str,
        step: str,
        outcome: str,
        output: Mapping[str, Any] | None = None,
        error: str = "",
    ) -> bool:
        """Record ``completed`` or ``failed`` for a waiting step; False for a repeat."""
        if outcome not in (StepStatus.COMPLETED, StepStatus.FAILED):
            raise SagaDefinitionError(f"status must be 'completed' or 'failed', got {outcome!r}")
        if output is not None and not isinstance(output, Mapping):
            raise SagaDefinitionError(f"output must be a dict, got {type(output).__name__}")
        if not isinstance(error, str):
            raise SagaDefinitionError(f"error must be a string, got {type(error).__name__}")
        data = to_json(dict(output or {}), f"output of step {step!r}")
        step_id = self._step_id(saga_id, step)
        with self.store.open_step(saga_id, step_id, fast_path=False) as unit:
            if unit is None or unit.step is None:
                raise SagaNotFound(f"No step {step!r} in saga {saga_id!r}")
            return flow.outside_result(unit, unit.step, outcome, data, error)

    def _step_id(self, saga_id: str, step: str) -> str:
        """The id of the step named or identified by ``step``."""
        if not isinstance(step, str) or not step:
            raise SagaNotFound(f"No step {step!r} in saga {saga_id!r}")
        for candidate in self.get(saga_id).steps:
            if step in (candidate.pk, candidate.name):
                return candidate.pk
        raise SagaNotFound(f"No step {step!r} in saga {saga_id!r}")

    # -- the engine ---------------------------------------------------------
    def run(self, **options: Any) -> None:
        """Run the orchestration engine in this thread until ``stop()``."""
        with self._lock:
            engine = self._engine = Engine(self.store, **options)
        try:
            engine.run()
        finally:
            with self._lock:
                if self._engine is engine:
                    self._engine = None

    def stop(self) -> None:
        """Ask a running engine to finish its in-flight steps and return."""
        with self._lock:
            if self._engine is not None:
                self._engine.stop()

    def close(self, timeout: float | None = None) -> None:
        """Stop the engine and wait until it has released its broker connection."""
        with self._lock:
            engine = self._engine
        if engine is not None:
            engine.stop()
            engine.finished.wait(engine.shutdown_grace + 5 if timeout is None else timeout)


def _timeout(step: Step) -> float | None:
    """The step's own timeout, else its handler's, else the project default."""
    if step.timeout is not None:
        return float(step.timeout)
    if registry.has("step", step.action):
        handler_timeout = registry.spec("step", step.action).timeout
        if handler_timeout is not None:
            return float(handler_timeout)
    default = saga_settings.STEP_TIMEOUT
    return None if default is None else float(default)


def _deadline(deadline: datetime | timedelta | float | None) -> datetime | None:
    if deadline is None or isinstance(deadline, datetime):
        return deadline
    if isinstance(deadline, bool) or not isinstance(deadline, timedelta | int | float):
        raise SagaDefinitionError(
            f"deadline must be a datetime, a timedelta or seconds, got {deadline!r}"
        )
    seconds = deadline.total_seconds() if isinstance(deadline, timedelta) else deadline
    if seconds <= 0:
        raise SagaDefinitionError(f"deadline must lie in the future, got {deadline!r}")
    return clock.now() + timedelta(seconds=seconds)


def _check_handlers(steps: list[Step]) -> None:
    for step in steps:
        if not registry.has("step", step.action):
            raise UnknownActionError(
                f"Step {step.name!r}: no step handler is registered for action {step.action!r}"
                f" (registered: {', '.join(registry.actions('step')) or 'none'})"
            )
        if step.compensation and not registry.has("compensation", step.compensation):
            raise UnknownActionError(
                f"Step {step.name!r}: no compensation handler is registered for "
                f"{step.compensation!r} (registered: "
                f"{', '.join(registry.actions('compensation')) or 'none'})"
            )


manager = Manager()
