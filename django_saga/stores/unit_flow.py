"""What a unit of work does for flow control: slots and turns of limited
actions, messages held for a slot or by a pause, a key's queue, and work
that must follow the unit's own rows inside its transaction. ``Unit``
inherits it; each store implements the abstract part."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..limits import Gate
    from ..messages import StepMessage
    from ..models import Pause
    from .base import Store


@dataclass(frozen=True)
class Held:
    """A message that waited for a slot of its action, now given one."""

    id: int
    message: StepMessage


class UnitFlow(ABC):
    """The flow-control half of ``Unit``."""

    def __init__(self) -> None:
        #: Slots of limited actions the unit's transaction holds (one set for
        #: the units of a transaction): freed when it ends.
        self.slots: set[int] = set()
        #: Queues of limited actions the unit took a slot of or held a message
        #: in: once it ends, the engine runs what waits there (``release``).
        self.gates: set[Gate] = set()
        #: The held message the unit runs, its slot already taken (None: a delivery).
        self.released: Held | None = None
        #: The unit's message holds its turn of its action's rate.
        self.rated = False
        #: Whether a pause of actions or saga names may be in force: the unit
        #: then asks which (``active_pauses``) before a handler runs.
        self.pauses = True
        # Run once the unit's rows are written, inside its transaction.
        self.flushed: list[Callable[[], None]] = []

    def after_flush(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the unit's own rows are written, still inside its
        transaction: to change another saga that must see this one's state
        (the next of a key's queue starts once this one has finished)."""
        self.flushed.append(fn)

    def run_flushed(self) -> None:
        """The store calls it once it has written the unit's rows."""
        while self.flushed:
            self.flushed.pop(0)()

    @abstractmethod
    def owning_store(self) -> Store: ...

    @abstractmethod
    def take_slot(self, gate: Gate) -> bool:
        """Take a free slot of ``gate`` for the unit's transaction, unless
        messages held in its queue came first (they go first)."""

    def take_turn(self, action: str, interval: float) -> float:
        """Take the next turn of a rate-limited action (its runs start at
        least ``interval`` seconds apart, across every engine): seconds from
        now until it comes (0: go now)."""
        return self.owning_store().take_turn(action, interval)

    @abstractmethod
    def hold_message(
        self,
        message: StepMessage,
        action: str,
        key: str = "",
        paused: bool = False,
        pause_id: int | None = None,
    ) -> None:
        """Keep ``message`` until a slot of ``action`` (for ``key``) frees, or,
        ``paused``, until the pause ``pause_id`` ends (None: the saga's own).
        Written with the unit; a message already held is held once."""

    @abstractmethod
    def queue_waits(self) -> bool:
        """Whether sagas wait in the queue of the unit's saga's key, read so
        that one joining it while the unit runs is seen: it joined first, or
        it finds the saga finished once the unit commits."""

    @abstractmethod
    def next_queued(self) -> str | None:
        """The oldest saga queued for the unit's saga's name and key, itself
        aside (None: none)."""

    @abstractmethod
    def active_pauses(self) -> list[Pause]:
        """The pauses of actions and saga names in force, as the unit sees them."""

    @abstractmethod
    def release_paused(self) -> int:
        """Send again the messages the saga's own pause held (with the unit,
        through the outbox); how many."""
