"""The Store protocol and the unit of work the engine drives through it.

``Store`` is what django-saga calls; ``HandOperations`` are whole-saga
changes by hand that both stores offer besides. At the heart of it is the
*unit of work* over one saga, in which the step's result, the saga's next
state and the messages they cause are recorded together or not at all.
Messages go through the outbox (rows written with the unit) except the
engine's own immediate hand-offs: it publishes those itself after commit and
acknowledges the message it processed only once the broker has confirmed
them, so a crash in between gets that message delivered again, and its
redelivery sends them again (``flow.resend_in_flight``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .. import clock, signals
from .unit_flow import Held, UnitFlow
from .unit_tasks import UnitTasks

if TYPE_CHECKING:
    from django.dispatch import Signal

    from ..limits import Gate
    from ..messages import Outgoing
    from ..models import Intervention, Saga, SagaStep, SagaTask
    from .wakeups import OutboxListener


class Busy(Exception):
    """A row the caller asked not to wait for is locked: try again later."""


class KeyTaken(Exception):
    """``create()`` found an unfinished saga of the same name with the same key."""

    def __init__(self, saga_id: str) -> None:
        super().__init__(f"saga {saga_id} has the key")
        self.saga_id = saga_id


class Unit(UnitFlow, UnitTasks, ABC):
    """One atomic change to one saga.

    ``saga`` and ``step`` are loaded when the unit opens (the step row locked
    first); ``lock_saga()`` then gives every step with no other unit able to
    change the saga (locking the saga row where the step lock alone does not
    ensure it). All saves and sends commit together when the unit closes
    without an error.
    """

    saga: Saga
    step: SagaStep | None

    def __init__(self, fast_path: bool) -> None:
        #: The engine's own unit: it publishes ``outgoing`` itself once the unit
        #: commits and holds the message it processed until they are confirmed,
        #: so those need no outbox row. Every other unit writes them as rows.
        self.fast_path = fast_path
        # Messages to publish as soon as the unit commits.
        self.outgoing: list[Outgoing] = []
        # Messages a relay takes from the outbox: those due after a delay, and
        # (delay 0) those no redelivery could bring back (``send_to(relayed=True)``).
        self.delayed: list[tuple[Outgoing, float]] = []
        # Operators' actions to record with the unit, and the Django user of each.
        self.interventions: list[tuple[Intervention, Any]] = []
        UnitFlow.__init__(self)

    def notify(self, signal: Signal, step: SagaStep | None = None) -> None:
        """Send ``signal`` for this saga (and ``step``) once the unit has committed."""
        saga = self.saga
        kwargs = {"saga": saga} if step is None else {"saga": saga, "step": step}

        def send() -> None:
            signal.send_robust(sender=type(saga), **kwargs)

        self.after_commit(send)

    def notify_task(self, signal: Signal, task: SagaTask) -> None:
        """Send ``signal`` about ``task`` of this unit's step once it has committed."""
        kwargs = {"task": task, "saga": self.saga, "step": self.step}

        def send() -> None:
            signal.send_robust(sender=type(task), **kwargs)

        self.after_commit(send)

    def record(self, intervention: Intervention, user: Any = None) -> None:
        """Record an operator's action with the unit's changes (``user``: the
        Django user who asked, for the admin log), and signal it after commit."""
        self.interventions.append((intervention, user))
        saga = self.saga

        def send() -> None:
            signals.saga_intervention.send_robust(
                sender=type(saga), saga=saga, intervention=intervention
            )

        self.after_commit(send)

    @abstractmethod
    def owning_store(self) -> Store:
        """The store the unit belongs to: a child saga is created, read and
        compensated through it, inside this unit's transaction."""

    @abstractmethod
    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` after the unit commits (never if it rolls back)."""

    @abstractmethod
    def lock_saga(self) -> list[SagaStep]:
        """The saga's declared steps in order (not a map's items: ``items()``),
        the saga kept from other writers until commit (its row locked after
        the step row, unless the step lock suffices)."""

    @abstractmethod
    def items(
        self, map_step: SagaStep, statuses: Sequence[str], limit: int | None = None
    ) -> list[SagaStep]:
        """The items of the map ``map_step`` in ``statuses``, in order, at most
        ``limit``, as this unit left them (under the saga's lock)."""

    @abstractmethod
    def item_range(self, map_step: SagaStep, start: int, stop: int) -> list[SagaStep]:
        """The items of the map ``map_step`` from index ``start`` up to
        ``stop``, in order, as this unit left them (read by position)."""

    @abstractmethod
    def item_statuses(self, map_step: SagaStep, start: int, stop: int) -> list[str]:
        """The statuses of ``item_range``'s items, read without the rows."""

    @abstractmethod
    def count_items(self, map_step: SagaStep, statuses: Sequence[str]) -> int:
        """How many items of the map ``map_step`` are in ``statuses``, as this
        unit left them: ask for few (an index reads each one counted)."""

    @abstractmethod
    def save_step(self, step: SagaStep, fields: Sequence[str]) -> None: ...

    @abstractmethod
    def add_steps(self, steps: Sequence[SagaStep]) -> None:
        """Insert new steps of the unit's saga (a map's items), under the
        saga's lock; ``items()`` finds them from then on."""

    @abstractmethod
    def save_saga_fields(self, fields: Sequence[str]) -> None:
        """Write these fields of the unit's saga at commit (``updated_at`` too)."""

    def touch(self) -> None:
        """Mark the saga as having moved (its ``updated_at``), with no field
        changed: the stale-saga sweeper leaves alone a saga that progresses."""
        self.save_saga_fields(())

    def send(self, kind: str, step: SagaStep, attempt: int, delay: float = 0.0) -> None:
        """Record a message for ``step``, published after commit (and ``delay`` seconds)."""
        self.send_to(self.saga.pk, step.pk, kind, attempt, delay)

    def send_to(
        self,
        saga_id: str,
        step_id: str,
        kind: str,
        attempt: int,
        delay: float = 0.0,
        relayed: bool = False,
        rated: bool = False,
    ) -> None:
        """Record a message for the step ``step_id`` of the saga ``saga_id``
        (this one's, or its parent's). ``relayed`` writes it as an outbox row
        even on the engine's own path: a message no redelivery could bring
        back, should the engine stop before the broker has it. ``rated``: it
        holds its turn of its action's rate."""
        from ..messages import Outgoing, StepMessage
        from ..models import new_id

        body = StepMessage(kind, saga_id, step_id, attempt, rated).encode()
        # A parent's step, told of its child's end, goes as its child went.
        message = Outgoing(new_id(), kind, saga_id, body, self.saga.priority)
        if delay > 0 or relayed:
            self.delayed.append((message, delay))
        else:
            self.outgoing.append(message)

    def rows(self) -> list[tuple[Outgoing, datetime]]:
        """The outbox rows of the unit, with the time a relay may publish each:
        its delayed messages, and its immediate ones unless the engine
        publishes those itself (``fast_path``)."""
        now = clock.now()
        rows = [(m, clock.later(delay, now)) for m, delay in self.delayed]
        if not self.fast_path:
            rows = [(m, now) for m in self.outgoing] + rows
        return rows

    @abstractmethod
    def relayed_steps(self) -> set[str]:
        """Ids of the saga's steps that have a message in the outbox not yet
        sent (a retry waiting for its delay, say), or held for a slot of its
        action: a relay or a release will send those."""


@runtime_checkable
class Store(Protocol):
    """What django-saga calls on persistence: the client, the operator layer,
    the engine's processor, relay and sweeper, and nothing else (documented
    method by method in the Store reference). A store of one's own implements
    these; ``HandOperations`` are extra."""

    # -- reading sagas ---------------------------------------------------------
    def load_saga(self, saga_id: str) -> Saga:
        """The saga with its steps; ``SagaNotFound`` if there is none."""
        ...

    def list_active_sagas(self) -> list[Saga]:
        """Sagas in ``started`` or ``compensating``, oldest first."""
        ...

    def children_of(self, saga_id: str) -> list[Saga]:
        """The child sagas the saga's steps started, oldest first, without
        their steps."""
        ...

    def find_by_key(self, name: str, key: str) -> Saga | None:
        """The unfinished saga of ``name`` with ``key``, else the latest one."""
        ...

    def step_id(self, saga_id: str, name_or_id: str) -> str | None:
        """The id of the saga's step named ``name_or_id`` or with that id (None:
        no such step, or no such saga), without loading the saga."""
        ...

    def interventions(self, saga_id: str) -> list[Intervention]:
        """What operators did to the saga, oldest first."""
        ...

    # -- units of work ---------------------------------------------------------
    def create(self, saga: Saga, steps: list[SagaStep]) -> AbstractContextManager[Unit]:
        """A unit that inserts ``saga`` and ``steps``; raises ``KeyTaken`` if an
        unfinished saga of its name has its key (decided by the database)."""
        ...

    def open_step(
        self, saga_id: str, step_id: str, fast_path: bool = True, timed_out: bool = False
    ) -> AbstractContextManager[Unit | None]:
        """A unit over the step's saga, the step locked first (None in the
        context: no such step in that saga, or with ``timed_out``, the step
        is not past its timeout or an engine holds it)."""
        ...

    def create_many(
        self, sagas: Sequence[tuple[Saga, list[SagaStep]]]
    ) -> AbstractContextManager[list[Unit]] | None:
        """Units that insert several new sagas, written together, all or none
        (a key taken raises ``IntegrityError``), or None where the store
        cannot: the caller then creates each alone."""
        ...

    def open_steps(
        self, keys: Sequence[tuple[str, str]]
    ) -> AbstractContextManager[list[Unit | None]] | None:
        """Units for the steps of several messages (``(saga_id, step_id)``, of
        distinct sagas) in one transaction that never waits for a row, or
        None where the store cannot: the engine then opens each alone."""
        ...

    def open_saga(self, saga_id: str, nowait: bool = False) -> AbstractContextManager[Unit]:
        """A unit over every step of the saga, all locked (``Busy`` with
        ``nowait`` if another unit holds them; ``SagaNotFound``)."""
        ...

    # -- limited actions -------------------------------------------------------
    def open_held(self, gate: Gate) -> AbstractContextManager[Held | None]:
        """A transaction holding a slot of ``gate`` and the oldest message of
        its queue that no other transaction has (None: none waits, or no
        slot is free). The message leaves the queue if it commits; open its
        step's unit inside it to run it."""
        ...

    def held_queues(self, limit: int) -> list[tuple[str, str, str]]:
        """(kind, action, key) of queues that hold messages for a slot, at most ``limit``."""
        ...

    def enqueue(self, saga: Saga, steps: list[SagaStep], holder_id: str) -> bool:
        """Insert ``saga`` (``queued``) and its steps behind ``holder_id``, the
        unfinished saga that has its name and key, marking that one as having
        a queue; False, writing nothing, if it has finished meanwhile."""
        ...

    def stranded_queued(self, limit: int) -> list[str]:
        """The oldest queued saga of each name and key that no unfinished saga
        holds (its holder finished as it was queued), at most ``limit``."""
        ...

    def unpause_held(self, limit: int) -> int:
        """Send again, through the outbox, at most ``limit`` messages held by
        pauses that have ended; how many."""
        ...

    def take_turn(self, name: str, interval: float) -> float:
        """Take the next turn of the rate ``name`` (turns ``interval`` seconds
        apart, whichever process takes them), committed at once whatever the
        caller's transaction does; seconds from now until it comes."""
        ...

    def record_runs(self, runs: Mapping[tuple[str, str], int]) -> None:
        """Keep the runs of limited actions, by (kind, action), this engine
        started since it last reported; drop reports older than
        ``models.RUNS_KEPT`` seconds."""
        ...

    # -- what the sweeper looks for -------------------------------------------
    def due_timeouts(self, limit: int) -> list[tuple[str, str]]:
        """(saga id, step id) of dispatched or waiting steps past their timeout."""
        ...

    def due_deadlines(self, limit: int) -> list[str]:
        """Ids of started sagas past their deadline."""
        ...

    def due_tasks(self, limit: int) -> list[tuple[str, str, str]]:
        """(saga id, step id, task id) of live tasks past their due time that
        were not escalated for it yet, the longest due first."""
        ...

    def stale_sagas(self, older_than: float, limit: int) -> list[Saga]:
        """Active sagas that have not moved for ``older_than`` seconds."""
        ...

    def purge_finished(self, older_than: float, budget: float) -> int:
        """Delete ``completed`` and ``compensated`` sagas that finished ``older_than``
        seconds ago, in batches, for about ``budget`` seconds; how many went."""
        ...

    # -- the outbox ------------------------------------------------------------
    def claim_due(self, limit: int, lease: float) -> list[Outgoing]:
        """Up to ``limit`` unsent rows that are due, leased for ``lease`` seconds
        (another relay skips them until then)."""
        ...

    def mark_sent(self, ids: Sequence[str]) -> None:
        """The broker confirmed these rows."""
        ...

    def relay_later(self, messages: Sequence[Outgoing]) -> None:
        """Write ``messages`` to the outbox, due now, and wake the relays: what
        the broker refused when the engine published it after a commit."""
        ...

    def purge_sent(self, older_than: float) -> int:
        """Delete rows sent ``older_than`` seconds ago; how many went."""
        ...

    def outbox_listener(self) -> OutboxListener:
        """A listener for one relay thread: it wakes when clients write rows."""
        ...
