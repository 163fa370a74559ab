"""How many runs of an action may be under way at once, and how often they
may start: the declaration.

``@step_handler("payment.charge", concurrency=10)`` allows ten runs of the
action at a time in the whole deployment, however many engines run it;
``per="key"`` makes the limit hold for each business key of the saga apart
(``concurrency=1, per="key"``: one run at a time per customer). A message
over the limit waits as a row, not on a thread (``flow.gate``), and a slot
is a lock of the transaction that runs the handler (``stores.slots``), so
a dead engine's slots come back with its database connection.

``rate="50/s"`` spaces the runs' starts evenly, 20 ms apart, across every
engine: each run takes the next turn of the action (``stores.rates``), and
a message whose turn is later is sent again, due then.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

#: What a limit may be kept per: the whole deployment (None) or each saga's key.
PER_KEY = "key"
PER_CHOICES = (None, PER_KEY)
#: Most runs one limit may allow at once: each is a lock an arrival may try.
MAX_CONCURRENCY = 1000
#: The units a rate may be given in, in seconds.
RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
#: Most starts a rate may allow a second: finer than the engine's own pace
#: would be a rate no turn could keep.
MAX_RATE_PER_SECOND = 10_000
_RATE = re.compile(r"\s*(\d+)\s*/\s*([smh])\s*")


@dataclass(frozen=True)
class Rate:
    """At most ``count`` starts every ``seconds``, spaced evenly."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str, action: str) -> Rate:
        """``"50/s"``, ``"300/m"`` or ``"1000/h"``; raises naming what is wrong."""
        found = _RATE.fullmatch(text) if isinstance(text, str) else None
        rate = cls(int(found[1]), RATE_UNITS[found[2]]) if found else None
        if rate is None or rate.count < 1 or rate.count / rate.seconds > MAX_RATE_PER_SECOND:
            raise ValueError(
                f"rate for {action!r} must be a count per second, minute or hour "
                f"such as '50/s', '300/m' or '1000/h' (at most {MAX_RATE_PER_SECOND}/s), "
                f"got {text!r}"
            )
        return rate

    @property
    def interval(self) -> float:
        """Seconds between two starts."""
        return self.seconds / self.count

    def describe(self) -> str:
        unit = next(u for u, s in RATE_UNITS.items() if s == self.seconds)
        return f"{self.count}/{unit}"


@dataclass(frozen=True)
class Limit:
    """At most ``concurrency`` runs at once (per saga key with ``per="key"``),
    started at most at ``rate``; either may be None."""

    concurrency: int | None
    per: str | None = None
    rate: Rate | None = None

    @classmethod
    def declared(
        cls, concurrency: int | None, per: str | None, action: str, rate: str | None = None
    ) -> Limit | None:
        """The limit a handler's registration asks for (None: unlimited);
        raises naming the bad argument."""
        pace = None if rate is None else Rate.parse(rate, action)
        if concurrency is None:
            if per is not None:
                raise ValueError(f"per={per!r} for {action!r} needs a concurrency limit")
            return None if pace is None else cls(None, None, pace)
        if type(concurrency) is not int or not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(
                f"concurrency for {action!r} must be a whole number from 1 to "
                f"{MAX_CONCURRENCY}, got {concurrency!r}"
            )
        if per not in PER_CHOICES:
            raise ValueError(f"per for {action!r} must be None or {PER_KEY!r}, got {per!r}")
        return cls(concurrency, per, pace)

    def key_of(self, saga_key: str | None, saga_id: str) -> str:
        """The queue a run of a saga belongs to: '' for the whole deployment,
        else the saga's business key (its id when it has none)."""
        if self.per is None:
            return ""
        return saga_key or saga_id

    def describe(self) -> str:
        parts = []
        if self.concurrency is not None:
            parts.append(f"{self.concurrency} at a time" + (" per key" if self.per else ""))
        if self.rate is not None:
            parts.append(self.rate.describe())
        return ", ".join(parts)


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
