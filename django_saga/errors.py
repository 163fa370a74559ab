"""Exceptions raised by django-saga. Every one names what went wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SagaError(Exception):
    """Base class of django-saga's errors."""


class SagaDefinitionError(SagaError, ValueError):
    """start() was given something that cannot become a saga."""


class NotJSONSerializableError(SagaDefinitionError):
    """An input, context or output holds a value JSON cannot carry."""


class LimitExceeded(SagaDefinitionError):
    """A value is over one of django-saga's documented limits (length, depth, size, time)."""


class UnknownActionError(SagaDefinitionError):
    """No handler is registered under an action name."""


class DuplicateHandlerError(SagaError):
    """Two different callables were registered under one action name."""


class SagaNotFound(SagaError, LookupError):
    """No saga has this id."""


class ScheduleNotFound(SagaNotFound):
    """No schedule has this name."""


class TaskNotFound(SagaNotFound):
    """No task has this id, or none the user may see."""


class TaskNotAllowed(SagaError):
    """The user may see the task but not do this to it (it is not offered to
    them, someone else claimed it, it may not be delegated)."""


class TaskFormInvalid(SagaDefinitionError):
    """The data given to complete a task does not pass its form; ``errors``
    holds the form's errors by field ("__all__" for the form's own)."""

    def __init__(self, message: str, errors: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.errors = errors


class SagaAlreadyActive(SagaError):
    """``start()`` with the business key of a saga of the same name that has not
    finished, asked to raise rather than return it; ``saga`` is that one."""

    def __init__(self, message: str, saga: Any = None) -> None:
        super().__init__(message)
        self.saga = saga


class InvalidStateTransition(SagaError):
    """The saga's current state does not allow the requested operation."""


class TaskClosed(InvalidStateTransition):
    """The task has ended (answered, escalated away or cancelled): nobody may act on it."""


class StepNotWaiting(InvalidStateTransition):
    """An outside result arrived for a step that is not waiting for one."""


class StaleResult(StepNotWaiting):
    """An outside result names an attempt other than the one the step waits for."""


class ReportTokenMismatch(StaleResult):
    """An outside result carries a ``report_token`` that the step did not hand
    out for that attempt: it answers another saga's wait (one that had the
    same business key before), or the token is wrong."""


class MalformedMessage(SagaError):
    """A broker message that does not follow the message protocol."""


class BrokerUnavailable(SagaError):
    """The broker cannot be reached or refused an operation.

    ``refused`` is True when RabbitMQ answered and turned the connection
    down (its login or virtual host): it runs, the URL is wrong.
    """

    refused = False


class PublishError(BrokerUnavailable):
    """The broker did not confirm a published message.

    ``confirmed``: the ids of the same batch's messages it did take, if known.
    """

    def __init__(self, message: str, confirmed: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.confirmed = list(confirmed)


def brief(value: Any) -> str:
    """A short description of ``value`` for an error message (never a huge repr)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, int | float | bool | type(None)) and not isinstance(value, str):
        return repr(value)
    if isinstance(value, str):
        shown = value if len(value) <= 60 else f"{value[:60]}…"
        return repr(shown)
    return f"a {type(value).__name__}"
