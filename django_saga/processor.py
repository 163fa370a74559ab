"""What the engine does with a message: run the handler and record the result.

The step row is locked first, the handler runs inside the same transaction,
and the step's result, the saga's next state and the next message commit
together: the outbox, at most one effect per delivery, and the ack after
the commit (see the guarantees in the documentation). A handler that raises takes the whole
transaction down with it; its failure is recorded in a fresh one.

Several messages of distinct sagas may share one transaction
(``process_many``); if anything in it fails, each is processed alone.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import InterfaceError, OperationalError

from . import clock, flow, tracing
from .attempts import (
    COMPENSATION,
    EXECUTION,
    AttemptKind,
    attempt_kind,
    awaits,
    describe,
    log_stale,
    log_step,
    resumed_at,
)
from .conf import saga_settings
from .connections import close_broken_connections, drop_connections
from .errors import MalformedMessage
from .limits import Gate
from .messages import EXECUTE, SETTLE, Outgoing, StepMessage, decode
from .models import FORWARD_STATES, SagaStep, StepStatus
from .registry import HandlerRegistry, registry
from .retry import RetryPolicy, StepTimeout
from .stores import Store, Unit

logger = logging.getLogger("django_saga.engine")


ACK = "ack"
DEAD_LETTER = "dead_letter"
REQUEUE = "requeue"

#: Database errors worth another try: the connection dropped, or the
#: transaction lost a deadlock or serialization race.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)
DB_ATTEMPTS = 3

#: The jitter source for retry delays; tests replace it to get exact schedules.
retry_random = random.random


class HandlerFailed(Exception):
    """A handler raised: its unit must roll back before the failure is recorded."""

    def __init__(
        self,
        error: BaseException,
        duration: int,
        span: tracing.StepSpan | None = None,
        gates: frozenset[Gate] = frozenset(),
    ) -> None:
        super().__init__(f"handler failed: {error!r}")
        self.error = error
        self.duration = duration
        # Ended once the failure is recorded, with the outcome it gets (retrying, failed).
        self.span = span
        # The queue whose slot the handler held, freed by the rollback.
        self.gates = gates


@dataclass
class Result:
    action: str
    outgoing: list[Outgoing] = field(default_factory=list)
    reason: str = ""
    #: Queues of limited actions the message took a slot of or waited in:
    #: the engine runs what they hold next (``release``).
    gates: set[Gate] | frozenset[Gate] = frozenset()


class Processor:
    def __init__(self, store: Store, handlers: HandlerRegistry = registry) -> None:
        self.store = store
        self.handlers = handlers

    def process(self, body: bytes, redelivered: bool = False) -> Result:
        message = _read(body)
        if isinstance(message, Result):
            return message
        return self._process_alone(message, redelivered)

    def process_many(self, deliveries: Sequence[tuple[bytes, bool]]) -> list[Result]:
        """Results for several deliveries (body, redelivered), in order.

        Where the store can, the messages of distinct sagas are recorded in
        one transaction: one lock-and-read, one write and one commit for all
        of them. Should anything in it fail (a handler raising, a row another
        transaction holds, the database), it rolls back as a whole and each
        message is processed alone, as ``process`` would: its handler runs
        again, and its effects still commit once.
        """
        messages = [_read(body) for body, _ in deliveries]
        results: list[Result | None] = [m if isinstance(m, Result) else None for m in messages]
        together: list[tuple[int, StepMessage, bool]] = []
        sagas: set[str] = set()
        for n, message in enumerate(messages):
            if isinstance(message, StepMessage) and message.saga_id not in sagas:
                sagas.add(message.saga_id)
                together.append((n, message, deliveries[n][1]))
        done = self._process_together(together) if len(together) > 1 else None
        if done is not None:
            for (n, _, _), result in zip(together, done, strict=True):
                results[n] = result
        answered: list[Result] = []
        for n, message in enumerate(messages):
            known = results[n]
            if known is None:
                assert isinstance(message, StepMessage)
                known = self._process_alone(message, deliveries[n][1])
            answered.append(known)
        return answered

    def _process_together(self, batch: list[tuple[int, StepMessage, bool]]) -> list[Result] | None:
        """One transaction for every message of ``batch`` (None: it rolled
        back, or the store records each message in a transaction of its own)."""
        close_broken_connections()
        keys = [(message.saga_id, message.step_id) for _, message, _ in batch]
        together = self.store.open_steps(keys)
        if together is None:
            return None
        results: list[Result | None] = []
        try:
            with together as units:
                for unit, (_, message, redelivered) in zip(units, batch, strict=True):
                    results.append(self.handle(unit, message, redelivered))
        except Exception as exc:
            if isinstance(exc, HandlerFailed) and exc.span is not None:
                exc.span.end("rolled back")
            # A connection that broke is closed before the messages go alone.
            logger.debug(
                "A batch of %d messages rolled back (%s); processing them one by one",
                len(batch),
                describe(exc),
            )
            return None
        return [result or _committed(unit) for result, unit in zip(results, units, strict=True)]

    def _process_alone(self, message: StepMessage, redelivered: bool) -> Result:
        for attempt in range(1, DB_ATTEMPTS + 1):
            close_broken_connections()
            try:
                return self._process(message, redelivered)
            except TRANSIENT_DB_ERRORS as exc:
                logger.warning(
                    "Database error on saga=%s step=%s (try %d of %d): %s",
                    message.saga_id,
                    message.step_id,
                    attempt,
                    DB_ATTEMPTS,
                    exc,
                )
                drop_connections()
                time.sleep(0.05 * 2**attempt)
            except Exception as exc:
                # Recording the result itself failed (a bug, a schema out of
                # date): once is chance, twice is a pattern.
                if not redelivered:
                    logger.exception(
                        "Could not record saga=%s step=%s; will retry once",
                        message.saga_id,
                        message.step_id,
                    )
                    return Result(REQUEUE, reason=f"engine error: {exc!r}")
                return self._give_up(message, exc)
        # Still failing: the broker redelivers the message later.
        return Result(REQUEUE, reason="database unavailable")

    def _give_up(self, message: StepMessage, exc: Exception) -> Result:
        """Fail the step for good, so that its saga says what happened; else dead-letter."""
        error = f"engine error: {describe(exc)}"
        logger.error("Failing saga=%s step=%s: %s", message.saga_id, message.step_id, error)
        try:
            with self.store.open_step(message.saga_id, message.step_id) as unit:
                step = unit.step if unit is not None else None
                if unit is None or step is None:
                    return Result(DEAD_LETTER, reason=error)
                if awaits(step, message):
                    attempt_kind(message.kind).failed(unit, step, error, 0, None)
            return Result(ACK, outgoing=unit.outgoing)
        except Exception:
            logger.exception(
                "Could not fail saga=%s step=%s either", message.saga_id, message.step_id
            )
            return Result(DEAD_LETTER, reason=error)

    def _process(self, message: StepMessage, redelivered: bool = False) -> Result:
        try:
            with self.store.open_step(message.saga_id, message.step_id) as unit:
                result = self.handle(unit, message, redelivered)
        except HandlerFailed as failed:
            # The handler's writes rolled back with the whole transaction;
            # its failure is recorded in a fresh one, if the step still waits
            # for this message (a duplicate may have settled it in between).
            return self.record_failure(message, failed)
        return result or _committed(unit)

    def handle(self, unit: Unit | None, message: StepMessage, redelivered: bool) -> Result | None:
        """Act on ``message`` in its step's unit; None: ack once the unit commits."""
        if unit is None or unit.step is None:
            reason = f"unknown saga {message.saga_id!r} or step {message.step_id!r}"
            if message.kind == SETTLE:
                # A child's end outlived its parent: retention purged the
                # parent of a child it left alone. Nothing waits for it.
                logger.info("Dropping a child saga's end for an %s", reason)
                return Result(ACK)
            logger.error("Dead-lettering a message for an %s", reason)
            return Result(DEAD_LETTER, reason=reason)
        unit.rated = message.rated
        if not awaits(unit.step, message):
            log_stale(unit.step, message)
            if redelivered and unit.fast_path:
                # This message may be the one whose unit committed while the
                # engine that ran it stopped before the broker confirmed what
                # the unit handed over.
                flow.resend_in_flight(unit)
        elif message.kind == EXECUTE:
            self._execute(unit, unit.step)
        elif message.kind == SETTLE:
            log_step(unit.step, EXECUTION, flow.settle_child(unit, unit.step), 0)
        elif unit.step.is_child:
            log_step(unit.step, COMPENSATION, flow.compensate_child(unit, unit.step), 0)
        else:
            self._run(unit, unit.step, COMPENSATION)
        return None

    def record_failure(
        self, message: StepMessage, failed: HandlerFailed, fast_path: bool = True
    ) -> Result:
        """Record, in a transaction of its own, an attempt whose handler raised."""
        outcome = "unrecorded"
        try:
            with self.store.open_step(message.saga_id, message.step_id, fast_path) as unit:
                if unit is None or unit.step is None or not awaits(unit.step, message):
                    outcome = "stale"
                    return Result(ACK, gates=failed.gates)
                recorded = self.fail_attempt(
                    unit, unit.step, attempt_kind(message.kind), failed.error, failed.duration
                )
            outcome = recorded
            return Result(ACK, outgoing=unit.outgoing, gates=failed.gates)
        finally:
            if failed.span is not None:
                failed.span.end(outcome)

    def _execute(self, unit: Unit, step: SagaStep) -> None:
        if unit.saga.state not in FORWARD_STATES:
            # The saga is being undone (a sibling failed, an operator or a
            # deadline stepped in) since this step was dispatched: running
            # it would only add undo work. A saga that waits for an operator
            # lets it run: the operator may still choose to go forward.
            flow.step_cancelled(unit, step)
            log_step(step, EXECUTION, flow.CANCELLED, 0)
            return
        if step.is_sleep or step.is_task:
            outcome = (flow.sleep_message if step.is_sleep else flow.task_message)(unit, step)
            if outcome != flow.EARLY:
                log_step(step, EXECUTION, outcome, 0)
            return
        if step.is_map:
            log_step(step, EXECUTION, flow.map_message(unit, step), 0)
            return
        if step.is_child:
            log_step(step, EXECUTION, flow.child_message(unit, step), 0)
            return
        if step.timeout_at is not None and step.timeout_at <= clock.now():
            # The attempt's time ran out before it could start (a backlog, or
            # redelivery after the engine running it died): it counts as failed.
            self.time_out(unit, step)
            return
        self._run(unit, step, EXECUTION)

    def _run(self, unit: Unit, step: SagaStep, kind: AttemptKind) -> None:
        """Run the step's handler or its compensation and record what it did.

        Raises ``HandlerFailed`` if it raised, or returned what cannot be
        recorded: its unit must roll back before the failure is recorded.
        """
        action = kind.action(step)
        attempt = kind.attempt(step)
        limit = self.handlers.limit(kind.name, action)
        if not flow.may_run(unit, step, kind.name, action, attempt, limit):
            return  # held, or sent again for its turn
        span = tracing.step_span(unit.saga, step, kind.name, action, attempt)
        started = time.monotonic()
        try:
            handler = self.handlers.get(kind.name, action)
            result = handler(unit.saga, step)
            output = kind.check(result, step, started)
        except BaseException as exc:  # even SystemExit: the saga must not hang
            if span is not None:
                span.leave(exc, describe(exc))
            raise HandlerFailed(exc, _ms_since(started), span, frozenset(unit.gates)) from exc
        duration = _ms_since(started)
        if span is not None:
            span.leave()
        outcome = kind.settle(unit, step, attempt, result, output, duration)
        log_step(step, kind, outcome, duration)
        if span is not None:
            span.end(outcome)

    def time_out(self, unit: Unit, step: SagaStep) -> None:
        """Fail the current attempt of a step that has no result past its timeout
        (a sleep step's time came: it wakes, should its message be lost)."""
        if step.is_sleep:
            log_step(step, EXECUTION, flow.sleep_message(unit, step), 0)
            return
        if step.status == StepStatus.WAITING:
            exc = StepTimeout(f"no outside result for attempt {step.attempts} in time")
            if flow.wait_ran_out(unit, step, describe(exc)):
                log_step(step, EXECUTION, step.status, 0)
                return
        else:
            exc = StepTimeout(
                f"no result for attempt {step.attempts} within its {step.timeout or 0:g}s timeout"
            )
        self.fail_attempt(unit, step, EXECUTION, exc, duration=0)

    def fail_attempt(
        self, unit: Unit, step: SagaStep, kind: AttemptKind, exc: BaseException, duration: int
    ) -> str:
        """Record a failed attempt of the step's handler or its compensation:
        schedule the next one, or fail the step (its compensation).

        Returns the outcome: ``retrying`` or ``failed``."""
        attempt = kind.attempt(step)
        this_round = attempt - resumed_at(step, kind.name)
        delay = self._retry_delay(unit, step, kind, exc, this_round)
        error = describe(exc)
        outcome = flow.RETRYING if delay is not None else flow.FAILED
        flow.record(step, kind.name, attempt, outcome, duration, error, delay)
        kind.failed(unit, step, error, duration, delay)
        log_step(step, kind, outcome, duration, error, exc)
        return outcome

    def _retry_delay(
        self, unit: Unit, step: SagaStep, kind: AttemptKind, exc: BaseException, attempt: int
    ) -> float | None:
        """Seconds until the next attempt, or None when this failure is final.

        A step past the saga's pivot can no longer be undone: asked only when
        the answer matters (it locks the saga).
        """
        action = kind.action(step)
        known = self.handlers.has(kind.name, action)
        policy = self.handlers.spec(kind.name, action).retry if known else RetryPolicy()
        compensation = kind is COMPENSATION
        resolved = policy.resolved(compensation=compensation)
        if not resolved.retries(exc, attempt, compensation=compensation) and (
            compensation
            or not resolved.retries(exc, attempt, forward=True)
            or flow.pivot_passed(unit.lock_saga()) is None
        ):
            return None
        return resolved.delay(attempt, retry_random)


def _read(body: bytes) -> StepMessage | Result:
    """The message in ``body``, or the dead-letter result that says why not."""
    try:
        return decode(body, saga_settings.MAX_MESSAGE_BYTES)
    except MalformedMessage as exc:
        logger.error("Dead-lettering a malformed message: %s", exc)
        return Result(DEAD_LETTER, reason=f"malformed message: {exc}")
    except Exception as exc:  # whatever a body holds, it never stops the engine
        logger.exception("Dead-lettering a message that could not be read")
        return Result(DEAD_LETTER, reason=f"unreadable message: {describe(exc)}")


def _committed(unit: Unit | None) -> Result:
    """What the engine does once the unit of a message has committed."""
    if unit is None:
        return Result(ACK)
    return Result(ACK, outgoing=unit.outgoing, gates=unit.gates)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
