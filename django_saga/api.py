"""The public entry point: start, inspect and compensate sagas; run the engine."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import IntegrityError, OperationalError

from . import clock, flow, interventions, tracing, validation
from .conf import saga_settings
from .definition import Declared, SagaDefinition, Step, normalise_steps
from .engine import Engine
from .errors import (
    InvalidStateTransition,
    ReportTokenMismatch,
    SagaAlreadyActive,
    SagaDefinitionError,
    SagaNotFound,
    UnknownActionError,
    brief,
)
from .interventions import Redrive
from .messages import COMPENSATE, EXECUTE
from .models import (
    KEY_MAX_CHARS,
    SAGA_ID_MAX_CHARS,
    Intervention,
    Saga,
    SagaStep,
    StepStatus,
    new_id,
)
from .registry import registry
from .stores import Store, get_store
from .stores.base import KeyTaken

if TYPE_CHECKING:
    from .stores.base import Unit

#: What an operator's change of one saga returns.
T = TypeVar("T")

#: A saga as callers name it: by its id, or by its name and business key.
SagaRef = str | tuple[str, str]

#: ``start(..., if_active=...)``: return the unfinished saga with the key, or raise.
RETURN = "return"
RAISE = "raise"
#: Tries of a start() whose key was taken by a saga that finished meanwhile.
KEY_TRIES = 3

logger = logging.getLogger(__name__)

#: How often an operator's action is tried when PostgreSQL fails it to break
#: a deadlock with an engine (see ``Manager._in_saga``).
DEADLOCK_TRIES = 3
#: The SQLSTATE of "deadlock detected".
DEADLOCK_DETECTED = "40P01"


class Manager:
    """Starts, reads and repairs sagas, and runs the engine: ``start``,
    ``get``, ``list_active``, ``compensate``, ``retry_compensation``,
    ``retry_step``, ``skip_step``, ``redrive``, ``run``, ``stop``, ``close``.

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
        key: str = "",
        if_active: str = RETURN,
    ) -> Saga:
        """Record a new saga and its first messages in one transaction.

        ``steps`` run one after another; ``parallel(...)`` in the list makes a
        stage whose steps run together. Returns at once: no broker round trip
        happens here; the engine's outbox relay publishes the first stage.
        ``deadline`` (a time, or a duration from now) is when a saga still
        running gets compensated.

        Inside the caller's ``transaction.atomic()`` the saga commits with
        the caller's own writes, or not at all: a rollback leaves no saga, no
        message and no signal.

        ``key`` is a business key (an order number): at most one saga of this
        name that has not finished (``completed`` or ``compensated``) has it,
        as the database enforces. Starting again with the key of such a saga
        returns that saga (``if_active="return"``, its ``created`` is False)
        or raises ``SagaAlreadyActive`` (``if_active="raise"``). A new saga's
        ``created`` is True.
        """
        return self._create(name, steps, context, deadline, key, if_active)

    def start_definition(
        self,
        definition: SagaDefinition,
        *,
        deadline: datetime | timedelta | float | None = None,
        if_active: str = RETURN,
    ) -> Saga:
        """Start a saga from a ``SagaDefinition``, recording its path and version
        (and the business key its ``key()`` gives)."""
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
            definition.key(),
            if_active,
            origin=(kind.path(), str(kind.version)),
        )

    def find(self, name: str, key: str) -> Saga:
        """The saga of ``name`` with the business ``key`` that has not finished,
        else the latest that had it; raises ``SagaNotFound``."""
        name = validation.text(
            name, "The saga's name", validation.NAME_MAX_CHARS, plain=validation.LABEL
        )
        key = validation.text(key, "The key", KEY_MAX_CHARS, plain=validation.LABEL)
        saga = self.store.find_by_key(name, key)
        if saga is None:
            raise SagaNotFound(f"No saga {name!r} with key {key!r}")
        return saga

    def _create(
        self,
        name: str,
        steps: Iterable[Declared],
        context: Mapping[str, Any] | None,
        deadline: datetime | timedelta | float | None,
        key: str,
        if_active: str,
        origin: tuple[str, str] = ("", ""),
    ) -> Saga:
        validation.text(name, "The saga's name", validation.NAME_MAX_CHARS, plain=validation.LABEL)
        key = validation.text(key, "The key", KEY_MAX_CHARS, blank=True, plain=validation.LABEL)
        if if_active not in (RETURN, RAISE):
            raise SagaDefinitionError(
                f"if_active must be {RETURN!r} or {RAISE!r}, got {brief(if_active)}"
            )
        declared = normalise_steps(steps)
        if context is not None and not isinstance(context, Mapping):
            raise SagaDefinitionError(f"context must be a dict, got {type(context).__name__}")
        saga_context = validation.to_json(dict(context or {}), f"Context of saga {name!r}")
        if saga_settings.CHECK_HANDLERS_ON_START:
            _check_handlers([staged.step for staged in declared])
        timeouts = [_timeout(staged.step) for staged in declared]
        deadline_at = validation.when(deadline, "deadline", clock.now())
        definition = validation.text(
            origin[0], "The definition's path", 300, blank=True, plain=validation.LABEL
        )
        version = validation.text(
            origin[1], "The definition's version", 50, blank=True, plain=validation.LABEL
        )
        for attempt in range(1, KEY_TRIES + 1):
            saga = Saga(
                name=name,
                key=key,
                context=saga_context,
                deadline_at=deadline_at,
                definition=definition,
                version=version,
            )
            # Under the caller's span (the request's): every step's span joins its trace.
            saga.trace_context = tracing.saga_started(saga)
            records = [
                SagaStep(
                    saga=saga,
                    position=position,
                    stage=staged.stage,
                    name=staged.step.name,
                    action=staged.step.action,
                    compensation=staged.step.compensation,
                    pivot=staged.step.pivot,
                    input=staged.step.input,
                    timeout=timeouts[position],
                )
                for position, staged in enumerate(declared)
            ]
            try:
                with self.store.create(saga, records) as unit:
                    flow.start(unit)
            except KeyTaken as taken:
                return self._already_active(name, key, taken.saga_id, if_active)
            except IntegrityError:
                # The saga that had the key finished between the refusal and
                # the look for it: the key is free again.
                if not key or attempt == KEY_TRIES:
                    raise
                continue
            saga.created = True
            return saga
        raise AssertionError("unreachable: the last try returns or raises")

    def _already_active(self, name: str, key: str, saga_id: str, if_active: str) -> Saga:
        existing = self.get(saga_id)
        message = (
            f"Saga {saga_id} ({name!r}, key {key!r}) is {existing.state}: "
            "a saga of this name with this key has not finished"
        )
        if if_active == RAISE:
            raise SagaAlreadyActive(message, existing)
        logger.info("start(): %s; returning it", message)
        existing.created = False
        return existing

    def get(self, saga_id: str) -> Saga:
        """The saga with its steps; raises ``SagaNotFound``."""
        return self.store.load_saga(_saga_id(saga_id))

    def list_active(self) -> list[Saga]:
        """Sagas still moving: ``started`` or ``compensating``."""
        return self.store.list_active_sagas()

    # -- operators' actions (each recorded: who, when, why) -------------------
    def compensate(self, saga_id: str, *, by: Any = None, reason: str = "") -> Saga:
        """Undo a ``started``, ``failed`` or ``completed`` saga.

        Calling it again while compensation is under way changes nothing;
        on a ``compensated`` saga, or one past its pivot, it raises
        ``InvalidStateTransition``; on a ``compensation_failed`` one it
        retries the failed compensations. ``by`` (a user or a name) and
        ``reason`` go on the saga's trail, and a user's into the admin log.
        """
        return self._intervene(saga_id, interventions.COMPENSATE, by, reason)

    def retry_compensation(self, saga_id: str, *, by: Any = None, reason: str = "") -> Saga:
        """Retry the compensations of a saga in ``compensation_failed``."""
        return self._intervene(saga_id, interventions.RETRY_COMPENSATION, by, reason)

    def retry_step(
        self,
        saga_id: str,
        step: str,
        input: Mapping[str, Any] | None = None,
        *,
        by: Any = None,
        reason: str = "",
    ) -> Saga:
        """Run a ``failed`` step (by name or id) of a ``failed`` or ``halted``
        saga again, with ``input`` instead of its own if given, and go on.

        The step gets its handler's whole retry budget again. The saga goes
        forward once no other step of it is failed.
        """
        data = interventions.json_value(input, f"input of step {brief(step)}")
        return self._intervene(saga_id, interventions.RETRY_STEP, by, reason, step, input=data)

    def skip_step(
        self,
        saga_id: str,
        step: str,
        output: Mapping[str, Any] | None = None,
        reason: str = "",
        *,
        by: Any = None,
    ) -> Saga:
        """Record a ``failed`` or ``waiting`` step as completed by hand, with
        ``output``, and go on: for a step whose effect an operator made by hand.

        If the saga is compensated later, the step's compensation runs.
        """
        data = interventions.json_value(output or {}, f"output of step {brief(step)}")
        return self._intervene(saga_id, interventions.SKIP_STEP, by, reason, step, output=data)

    def interventions(self, saga_id: str) -> list[Intervention]:
        """What operators did to the saga, oldest first."""
        return self.store.interventions(_saga_id(saga_id))

    def redrive(
        self,
        sagas: Iterable[str | Saga],
        *,
        rate: float,
        by: Any = None,
        reason: str = "",
    ) -> Redrive:
        """Retry many sagas that wait for an operator, ``rate`` sagas a second.

        Each saga gets what fits its state: its failed steps retried
        (``failed``, ``halted``) or its compensation retried
        (``compensation_failed``). Each saga is sent ``1 / rate`` seconds
        after the one before, through the outbox, so the pacing holds with no
        process waiting and survives restarts; a rate at which the last saga
        would be sent more than 366 days from now is refused up front. A saga
        whose state allows nothing is left alone and listed in ``refused``.
        Returns the re-drive, whose ``batch`` names it on every intervention it
        records.
        """
        actor = interventions.Actor.of(by)
        why = interventions.reason_of(actor, reason)
        chosen = list(sagas)
        pace = interventions.rate_value(rate, len(chosen))
        redrive = interventions.Redrive(batch=new_id(), rate=pace)
        for saga in chosen:
            saga_id = _saga_id(saga.pk if isinstance(saga, Saga) else saga)
            try:
                sent_at = self._in_saga(
                    saga_id,
                    partial(interventions.redrive_one, actor=actor, reason=why, redrive=redrive),
                )
            except (InvalidStateTransition, SagaNotFound) as exc:
                redrive.refused.append((saga_id, str(exc)))
            else:
                redrive.scheduled.append(saga_id)
                redrive.first_at = redrive.first_at or sent_at
                redrive.last_at = sent_at
        return redrive

    def _intervene(
        self,
        saga_id: str,
        action: str,
        by: Any,
        reason: str,
        step: str = "",
        **values: Any,
    ) -> Saga:
        actor = interventions.Actor.of(by)
        request = interventions.Request(
            action, actor, interventions.reason_of(actor, reason), step=step, **values
        )
        if step and not _plausible(step, validation.NAME_MAX_CHARS):
            raise SagaNotFound(f"No step {brief(step)} in saga {brief(saga_id)}")
        self._in_saga(_saga_id(saga_id), partial(interventions.apply, request=request))
        return self.get(saga_id)

    def _in_saga(self, saga_id: str, change: Callable[[Unit], T]) -> T:
        """Run ``change`` in a unit holding every row of the saga, step rows first.

        An engine's unit holds its step's row and may then write an earlier
        step's (the compensation that comes next), so an operator who holds
        that earlier row and waits for the step's deadlocks with it.
        PostgreSQL fails one of the two; the engine tries its unit again, and
        so does this.
        """
        for attempt in range(1, DEADLOCK_TRIES):
            try:
                with self.store.open_saga(saga_id) as unit:
                    return change(unit)
            except OperationalError as exc:
                if not _deadlock(exc):
                    raise
                logger.warning(
                    "saga=%s: an operator's action deadlocked with an engine (try %d of %d)",
                    saga_id,
                    attempt,
                    DEADLOCK_TRIES,
                )
        with self.store.open_saga(saga_id) as unit:
            return change(unit)

    # -- steps completed from outside --------------------------------------
    def complete_step(
        self,
        saga: SagaRef,
        step: str,
        output: Mapping[str, Any] | None = None,
        *,
        attempt: int | None = None,
        report_token: str | None = None,
    ) -> Saga:
        """Complete a ``waiting`` step (by id or name), ``output`` merged into its own.

        ``saga`` is the saga's id, or its ``(name, key)``: a service that
        knows only the order number can answer.
        ``attempt`` (the ``step.attempts`` the handler saw) makes sure the
        result answers the attempt that waits, not an earlier one retried
        since. ``report_token`` (the ``step.report_token`` the handler saw)
        makes sure it answers this saga, not an earlier one with the same key.
        Repeating a completion already recorded changes nothing; a step
        that is not waiting raises ``StepNotWaiting``, a result for another
        attempt ``StaleResult``, a token of another wait ``ReportTokenMismatch``.
        """
        saga_id = self.resolve(saga)
        self.record_outside_result(
            saga_id,
            step,
            StepStatus.COMPLETED,
            output=output,
            attempt=attempt,
            report_token=report_token,
        )
        return self.get(saga_id)

    def fail_step(
        self,
        saga: SagaRef,
        step: str,
        error: str = "",
        *,
        attempt: int | None = None,
        report_token: str | None = None,
    ) -> Saga:
        """Fail a ``waiting`` step (by id or name; the saga by id or ``(name,
        key)``): the saga compensates as for any failure."""
        saga_id = self.resolve(saga)
        self.record_outside_result(
            saga_id,
            step,
            StepStatus.FAILED,
            error=error,
            attempt=attempt,
            report_token=report_token,
        )
        return self.get(saga_id)

    def resolve(self, saga: SagaRef) -> str:
        """The id of the saga given by id or by ``(name, key)``."""
        if isinstance(saga, tuple):
            if len(saga) != 2:
                raise SagaDefinitionError(
                    f"a saga is given by its id or by (name, key), got a tuple of {len(saga)}"
                )
            return str(self.find(*saga).pk)
        return _saga_id(saga)

    def record_outside_result(
        self,
        saga: SagaRef,
        step: str,
        outcome: str,
        output: Mapping[str, Any] | None = None,
        error: str = "",
        attempt: int | None = None,
        report_token: str | None = None,
    ) -> bool:
        """Record ``completed`` or ``failed`` for a waiting step; False for a repeat.

        ``report_token``, when given, must be the step's ``report_token`` for
        ``attempt``; else ``ReportTokenMismatch``. Everything is checked
        before anything is written: a refusal writes nothing.
        """
        saga_id = self.resolve(saga)
        if outcome not in (StepStatus.COMPLETED, StepStatus.FAILED):
            raise SagaDefinitionError(
                f"status must be 'completed' or 'failed', got {brief(outcome)}"
            )
        if output is not None and not isinstance(output, Mapping):
            raise SagaDefinitionError(f"output must be a dict, got {type(output).__name__}")
        validation.text(error, "error", validation.ERROR_MAX_CHARS, blank=True)
        if attempt is not None and (
            isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1
        ):
            raise SagaDefinitionError(f"attempt must be a positive integer, got {brief(attempt)}")
        if report_token is not None and not isinstance(report_token, str):
            raise SagaDefinitionError(
                f"report_token must be a string, got {type(report_token).__name__}"
            )
        data = validation.to_json(dict(output or {}), "output")
        step_id = self._step_id(saga_id, step)
        with self.store.open_step(saga_id, step_id, fast_path=False) as unit:
            if unit is None or unit.step is None:
                raise SagaNotFound(f"No step {step!r} in saga {saga_id!r}")
            if report_token is not None and not unit.step.accepts_report_token(
                report_token, attempt
            ):
                raise ReportTokenMismatch(
                    f"The report_token was not handed out by attempt "
                    f"{unit.step.attempts if attempt is None else attempt} of step "
                    f"{unit.step.name!r} of saga {saga_id}: the report answers another "
                    "wait (of an earlier saga with the same key, say), or the token is wrong"
                )
            with tracing.outside_result(unit.saga, unit.step, outcome, attempt) as traced:
                recorded = flow.outside_result(unit, unit.step, outcome, data, error, attempt)
                traced.recorded(recorded)
                return recorded

    def _step_id(self, saga_id: str, step: str) -> str:
        """The id of the step named or identified by ``step``."""
        if not _plausible(step, validation.NAME_MAX_CHARS):
            raise SagaNotFound(f"No step {brief(step)} in saga {brief(saga_id)}")
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
    """The step's own timeout, else its handler's, else the project default.

    Each is checked where it is declared (the step in ``normalise_steps``, the
    handler's at registration); the setting is checked here too, since a
    project may start sagas without running the system checks.
    """
    if step.timeout is not None:
        return float(step.timeout)
    if registry.has(EXECUTE, step.action):
        handler_timeout = registry.spec(EXECUTE, step.action).timeout
        if handler_timeout is not None:
            return float(handler_timeout)
    return validation.seconds(saga_settings.STEP_TIMEOUT, "SAGA['STEP_TIMEOUT']")


def _plausible(value: Any, max_chars: int) -> bool:
    """Whether ``value`` could be an id or name at all: a string a column can hold."""
    if not isinstance(value, str):
        return False
    return 0 < len(value) <= max_chars and validation.storable(value)


def _deadlock(exc: OperationalError) -> bool:
    """Whether the database failed the transaction to break a deadlock."""
    cause = exc.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return code == DEADLOCK_DETECTED


def _saga_id(value: Any) -> str:
    """``value`` if some saga could have it as its id; else ``SagaNotFound`` at once.

    A string no id column can hold (too long, a NUL character) would make
    PostgreSQL raise a data error instead of finding nothing.
    """
    if not _plausible(value, SAGA_ID_MAX_CHARS):
        raise SagaNotFound(f"No saga with id {brief(value)}")
    return str(value)


def _check_handlers(steps: list[Step]) -> None:
    for step in steps:
        if not registry.has(EXECUTE, step.action):
            raise UnknownActionError(
                f"Step {step.name!r}: no step handler is registered for action {step.action!r}"
                f" (registered: {', '.join(registry.actions(EXECUTE)) or 'none'})"
            )
        if step.compensation and not registry.has(COMPENSATE, step.compensation):
            raise UnknownActionError(
                f"Step {step.name!r}: no compensation handler is registered for "
                f"{step.compensation!r} (registered: "
                f"{', '.join(registry.actions(COMPENSATE)) or 'none'})"
            )


manager = Manager()
