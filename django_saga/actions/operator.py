"""The operator's role of the manager: act on sagas, re-drive them, read the trail.

``Operator.act()`` runs any action of the table; ``compensate``,
``retry_compensation``, ``retry_step`` and ``skip_step`` are its named
forms, and ``redrive`` retries many sagas at a pace. Each is attributed
(``by``), explained (``reason``) and recorded in the transaction that makes
the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import OperationalError

from .. import validation
from ..client import Client
from ..errors import InvalidStateTransition, SagaDefinitionError, SagaNotFound, brief
from ..models import Intervention, Saga, new_id, plausible, saga_id_of
from .apply import apply
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
from .declaration import Action, Actor, Request, reason_of
from .redrive import Redrive, rate_value, redrive_one

if TYPE_CHECKING:
    from ..stores.base import Unit

#: What an operator's change of one saga returns.
T = TypeVar("T")

logger = logging.getLogger(__name__)

#: How often an operator's action is tried when PostgreSQL fails it to break
#: a deadlock with an engine (see ``Operator._in_saga``).
DEADLOCK_TRIES = 3
#: The SQLSTATE of "deadlock detected".
DEADLOCK_DETECTED = "40P01"

_BY_NAME = {action.name: action for action in ACTIONS}


def action_named(name: str | Action) -> Action:
    """The action called ``name`` (its trail name, ``retry_step``, or its
    slug, ``retry-step``); raises ``SagaDefinitionError`` naming the known ones."""
    if isinstance(name, Action):
        return name
    if isinstance(name, str):
        found = _BY_NAME.get(name.replace("-", "_"))
        if found is not None:
            return found
    raise SagaDefinitionError(
        f"No operator action {brief(name)}: the actions are {', '.join(_BY_NAME)}"
    )


class Operator(Client):
    """A client that may also change sagas as an operator."""

    def act(
        self,
        action: str | Action,
        saga_id: str,
        step: str = "",
        data: Mapping[str, Any] | None = None,
        *,
        by: Any = None,
        reason: str = "",
        strict: bool = True,
    ) -> Saga:
        """Run the operator action ``action`` on a saga (``step``: on one of
        its steps, by name or id), with ``data`` if the action takes a JSON
        object, and return the saga as it now stands.

        Raises ``SagaNotFound``, or ``InvalidStateTransition`` with a sentence
        saying why the saga's state does not allow it. ``strict=False`` lets
        a forgiving action (``compensate``) do what it can instead: nothing
        while it is under way.
        """
        chosen = action_named(action)
        actor = Actor.of(by)
        why = reason_of(actor, reason)
        if chosen.on_step and not plausible(step, validation.NAME_MAX_CHARS):
            raise SagaNotFound(f"No step {brief(step)} in saga {brief(saga_id)}")
        request = Request(
            chosen,
            actor,
            why,
            step=step if chosen.on_step else "",
            data=chosen.data_value(data, step),
            strict=strict,
        )
        self._in_saga(saga_id_of(saga_id), partial(apply, request=request))
        return self.get(saga_id)

    def compensate(self, saga_id: str, *, by: Any = None, reason: str = "") -> Saga:
        """Undo a ``started``, ``failed`` or ``completed`` saga.

        Calling it again while compensation is under way changes nothing;
        on a ``compensated`` saga, or one past its pivot, it raises
        ``InvalidStateTransition``; on a ``compensation_failed`` one it
        retries the failed compensations. ``by`` (a user or a name) and
        ``reason`` go on the saga's trail, and a user's into the admin log.
        """
        return self.act(COMPENSATE, saga_id, by=by, reason=reason, strict=False)

    def retry_compensation(self, saga_id: str, *, by: Any = None, reason: str = "") -> Saga:
        """Retry the compensations of a saga in ``compensation_failed``."""
        return self.act(RETRY_COMPENSATION, saga_id, by=by, reason=reason)

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
        return self.act(RETRY_STEP, saga_id, step, input, by=by, reason=reason)

    def skip_step(
        self,
        saga_id: str,
        step: str,
        output: Mapping[str, Any] | None = None,
        *,
        by: Any = None,
        reason: str = "",
    ) -> Saga:
        """Record a ``failed`` or ``waiting`` step as completed by hand, with
        ``output``, and go on: for a step whose effect an operator made by hand.

        If the saga is compensated later, the step's compensation runs.
        """
        return self.act(SKIP_STEP, saga_id, step, output, by=by, reason=reason)

    def wake_step(self, saga_id: str, step: str, *, by: Any = None, reason: str = "") -> Saga:
        """End a sleep (a step by name or id) now instead of at its time: the
        step completes and the saga goes on."""
        return self.act(WAKE_STEP, saga_id, step, by=by, reason=reason)

    def pause_saga(self, saga_id: str, *, by: Any = None, reason: str = "") -> Saga:
        """Stop a saga under way after the step running now: its next messages
        wait, their attempts' time stopped, until ``resume_saga``."""
        return self.act(PAUSE, saga_id, by=by, reason=reason)

    def resume_saga(self, saga_id: str, *, by: Any = None, reason: str = "") -> Saga:
        """Let a paused saga go on: the messages its pause held are sent again."""
        return self.act(RESUME, saga_id, by=by, reason=reason)

    def interventions(self, saga_id: str) -> list[Intervention]:
        """What operators did to the saga, oldest first."""
        return self.store.interventions(saga_id_of(saga_id))

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
        actor = Actor.of(by)
        why = reason_of(actor, reason)
        chosen = list(sagas)
        redrive = Redrive(batch=new_id(), rate=rate_value(rate, len(chosen)))
        for saga in chosen:
            saga_id = saga_id_of(saga.pk if isinstance(saga, Saga) else saga)
            try:
                sent_at = self._in_saga(
                    saga_id, partial(redrive_one, actor=actor, reason=why, redrive=redrive)
                )
            except (InvalidStateTransition, SagaNotFound) as exc:
                redrive.refused.append((saga_id, str(exc)))
            else:
                redrive.scheduled.append(saga_id)
                redrive.first_at = redrive.first_at or sent_at
                redrive.last_at = sent_at
        return redrive

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


def _deadlock(exc: OperationalError) -> bool:
    """Whether the database failed the transaction to break a deadlock."""
    cause = exc.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return code == DEADLOCK_DETECTED
