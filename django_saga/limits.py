"""How many runs of an action may be under way at once: the declaration.

``@step_handler("payment.charge", concurrency=10)`` allows ten runs of the
action at a time in the whole deployment, however many engines run it;
``per="key"`` makes the limit hold for each business key of the saga apart
(``concurrency=1, per="key"``: one run at a time per customer). A message
over the limit waits as a row, not on a thread (``flow.gate``), and a slot
is a lock of the transaction that runs the handler (``stores.slots``), so
a dead engine's slots come back with its database connection.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

#: What a limit may be kept per: the whole deployment (None) or each saga's key.
PER_KEY = "key"
PER_CHOICES = (None, PER_KEY)
#: Most runs one limit may allow at once: each is a lock an arrival may try.
MAX_CONCURRENCY = 1000


@dataclass(frozen=True)
class Limit:
    """At most ``concurrency`` runs at once (per saga key with ``per="key"``)."""

    concurrency: int
    per: str | None = None

    @classmethod
    def declared(cls, concurrency: int | None, per: str | None, action: str) -> Limit | None:
        """The limit a handler's registration asks for (None: unlimited);
        raises naming the bad argument."""
        if concurrency is None:
            if per is not None:
                raise ValueError(f"per={per!r} for {action!r} needs a concurrency limit")
            return None
        if type(concurrency) is not int or not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(
                f"concurrency for {action!r} must be a whole number from 1 to "
                f"{MAX_CONCURRENCY}, got {concurrency!r}"
            )
        if per not in PER_CHOICES:
            raise ValueError(f"per for {action!r} must be None or {PER_KEY!r}, got {per!r}")
        return cls(concurrency, per)

    def key_of(self, saga_key: str | None, saga_id: str) -> str:
        """The queue a run of a saga belongs to: '' for the whole deployment,
        else the saga's business key (its id when it has none)."""
        if self.per is None:
            return ""
        return saga_key or saga_id

    def describe(self) -> str:
        return f"{self.concurrency} at a time" + (" per key" if self.per else "")


@dataclass(frozen=True)
class Gate:
    """One queue of a limited action: runs of the ``kind`` of handler
    (``execute`` or ``compensate``) for ``action`` and ``key`` ('' for every
    saga) share ``concurrency`` slots and wait in arrival order."""

    kind: str
    action: str
    key: str
    concurrency: int

    def slot_ids(self) -> list[int]:
        """The lock of each slot: 64-bit numbers PostgreSQL's advisory locks
        take, from a hash of the queue and the slot's number (two queues
        sharing a number would only share that slot)."""
        return list(_slot_ids(f"{self.kind}\x00{self.action}\x00{self.key}", self.concurrency))

    def describe(self) -> str:
        return self.action + (f" for key {self.key!r}" if self.key else "")


@functools.lru_cache(maxsize=4096)
def _slot_ids(queue: str, concurrency: int) -> tuple[int, ...]:
    return tuple(_lock_id(f"{queue}\x00{n}") for n in range(concurrency))


def _lock_id(name: str) -> int:
    digest = hashlib.blake2b(b"django-saga slot\x00" + name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
