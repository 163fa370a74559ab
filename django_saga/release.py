"""Running held messages: those a limited action's queue keeps until a slot frees.

A message over its action's concurrency limit waits as a row
(``flow.gate``). Whoever frees a slot runs the oldest row of the queue in a
transaction that takes the slot and the row together: the engine's worker
once a run of the action has ended, or a message was held (a slot may have
freed meanwhile), and the sweeper for every queue now and then (the engine
that held the slot may be gone). The row leaves the queue only if its
message's unit commits; a handler that raises puts it back with the slot,
and its failure is recorded as for a delivery, after which the row is
stale and dropped by the next release.
"""

from __future__ import annotations

import logging

from .connections import close_broken_connections, drop_connections
from .limits import Gate
from .processor import TRANSIENT_DB_ERRORS, HandlerFailed, Processor

logger = logging.getLogger("django_saga.engine")

#: Held messages one ``release`` call runs at most before the engine's
#: worker goes back to its deliveries.
RELEASE_BATCH = 100


def release(processor: Processor, gate: Gate, most: int = RELEASE_BATCH) -> int:
    """Run the messages held in ``gate``'s queue, oldest first, while a slot
    of it is free; how many left the queue (at most ``most``). What their
    units send goes through the outbox: there is no delivery to hold."""
    released = 0
    while released < most:
        close_broken_connections()
        try:
            if not _release_one(processor, gate):
                break
        except TRANSIENT_DB_ERRORS as exc:
            logger.warning("Database error releasing held %s: %s", gate.describe(), exc)
            drop_connections()
            break
        released += 1
    return released


def _release_one(processor: Processor, gate: Gate) -> bool:
    """Run the oldest message held for ``gate`` (False: none could go)."""
    store = processor.store
    try:
        with store.open_held(gate) as held:
            if held is None:
                return False
            message = held.message
            with store.open_step(message.saga_id, message.step_id, fast_path=False) as unit:
                if unit is None or unit.step is None:
                    logger.info("Dropping a held message of a saga that is gone: %s", message)
                    return True
                unit.released = held
                processor.handle(unit, message, redelivered=False)
    except HandlerFailed as failed:
        processor.record_failure(message, failed, fast_path=False)
    return True
