"""The client API: start sagas, read them, and report the results of waiting steps.

What a web process needs, and no more: it loads neither the engine nor a
broker's client. ``Client`` is the first role of ``django_saga.api.Manager``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError

from . import flow, tracing, validation
from .errors import (
    ReportTokenMismatch,
    SagaAlreadyActive,
    SagaDefinitionError,
    SagaNotFound,
    brief,
)
from .models import (
    KEY_MAX_CHARS,
    Saga,
    StepStatus,
    find_step,
    plausible,
    saga_id_of,
)
from .starts import Checked, check_start
from .steps import BaseDefinition, Declared
from .stores import Store, get_store
from .stores.base import KeyTaken

#: A saga as callers name it: by its id, or by its name and business key.
SagaRef = str | tuple[str, str]

#: ``start(..., if_active=...)``: return the unfinished saga with the key,
#: raise, or queue the new saga to start when that one (and those queued
#: before it) finish.
RETURN = "return"
RAISE = "raise"
QUEUE = "queue"
IF_ACTIVE = (RETURN, RAISE, QUEUE)
#: Tries of a start() whose key was taken by a saga that finished meanwhile.
KEY_TRIES = 3

logger = logging.getLogger(__name__)


class Client:
    """Starts and reads sagas, and records what outside services report.

    Without an explicit store it uses the one ``SAGA['STORE']`` names, looked
    up on every call so settings overrides apply.
    """

    def __init__(self, store: Store | None = None) -> None:
        self._store = store

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
        priority: str = "normal",
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
        returns that saga (``if_active="return"``, its ``created`` is False),
        raises ``SagaAlreadyActive`` (``if_active="raise"``), or records the
        new saga ``queued`` to start once that one and those queued before it
        have finished (``if_active="queue"``: one saga of the name at a time
        per key, in start order; an operator may cancel a queued saga). A new
        saga's ``created`` is True.

        ``priority="high"`` sends every message of the saga to the priority
        queue, which engines take from first (and, so that normal sagas are
        not starved, at most a few times in a row while normal work waits).
        """
        checked = check_start(name, steps, context, deadline, key, priority=priority)
        return self._write(checked, if_active)

    def start_definition(
        self,
        definition: BaseDefinition,
        *,
        deadline: datetime | timedelta | float | None = None,
        if_active: str = RETURN,
        key: str | None = None,
        context: Mapping[str, Any] | None = None,
        priority: str | None = None,
    ) -> Saga:
        """Start a saga from a ``SagaDefinition``, recording its path and version.

        Its business key is the one ``key()`` gives and its context the one
        ``context()`` gives, unless ``key`` or ``context`` say otherwise (a
        schedule names each run's tick in both); its priority the class's
        ``priority`` unless ``priority`` says otherwise."""
        checked = self._checked_definition(
            definition, deadline=deadline, key=key, context=context, priority=priority
        )
        return self._write(checked, if_active)

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

    def start_together(
        self, starts: Sequence[tuple[BaseDefinition, str | None, Mapping[str, Any] | None]]
    ) -> list[Saga]:
        """Start several sagas from definitions, each with its business key and
        context (None: the definition's own), written together: one multi-row
        insert a table, all or none.

        A key an unfinished saga already holds raises ``IntegrityError`` with
        none of them started (and the caller's transaction still usable):
        ``start_definition`` each then tells which. A store that cannot write
        them together (the memory store) starts each alone, raising
        ``SagaAlreadyActive`` for a key taken.
        """
        checked = [
            self._checked_definition(definition, key=key, context=context)
            for definition, key, context in starts
        ]
        rows = [start.rows() for start in checked]
        together = self.store.create_many(rows)
        if together is None:
            return [self._write(start, RAISE) for start in checked]
        with together as units:
            for unit in units:
                flow.start(unit)
        for saga, _ in rows:
            saga.created = True
        return [saga for saga, _ in rows]

    def _checked_definition(
        self,
        definition: BaseDefinition,
        *,
        deadline: datetime | timedelta | float | None = None,
        key: str | None = None,
        context: Mapping[str, Any] | None = None,
        priority: str | None = None,
    ) -> Checked:
        if not isinstance(definition, BaseDefinition):
            raise SagaDefinitionError(
                f"expected a SagaDefinition instance, got {type(definition).__name__}"
            )
        kind = type(definition)
        return check_start(
            kind.saga_name(),
            definition.steps(),
            definition.context() if context is None else context,
            deadline,
            definition.key() if key is None else key,
            origin=(kind.path(), str(kind.version)),
            priority=definition.priority if priority is None else priority,
        )

    def _write(self, start: Checked, if_active: str) -> Saga:
        if if_active not in IF_ACTIVE:
            raise SagaDefinitionError(
                f"if_active must be one of {', '.join(map(repr, IF_ACTIVE))}, "
                f"got {brief(if_active)}"
            )
        for attempt in range(1, KEY_TRIES + 1):
            saga, records = start.rows()
            try:
                with self.store.create(saga, records) as unit:
                    flow.start(unit)
            except KeyTaken as taken:
                if if_active != QUEUE:
                    return self._already_active(start.name, start.key, taken.saga_id, if_active)
                saga, records = start.rows()
                if not self.store.enqueue(saga, records, taken.saga_id):
                    continue  # it finished meanwhile: the key is free again
                logger.info(
                    "start(): saga %s queued behind %s (%r, key %r)",
                    saga.pk,
                    taken.saga_id,
                    start.name,
                    start.key,
                )
            except IntegrityError:
                # The saga that had the key finished between the refusal and
                # the look for it: the key is free again.
                if not start.key or attempt == KEY_TRIES:
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
        return self.store.load_saga(saga_id_of(saga_id))

    def children(self, saga: SagaRef) -> list[Saga]:
        """The child sagas the saga's steps started (``child``, or a map of
        child sagas), oldest first, without their steps: ``get`` one for them."""
        return self.store.children_of(self.resolve(saga))

    def list_active(self) -> list[Saga]:
        """Sagas still moving: ``started`` or ``compensating``."""
        return self.store.list_active_sagas()

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
        return saga_id_of(saga)

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
        if not plausible(step, validation.NAME_MAX_CHARS):
            raise SagaNotFound(f"No step {brief(step)} in saga {brief(saga_id)}")
        found = self.store.step_id(saga_id, step)
        if found is None:
            # Which is missing, the saga or its step: only a refusal reads it.
            saga = self.get(saga_id)
            return find_step(saga.pk, saga.steps, step).pk
        return found
