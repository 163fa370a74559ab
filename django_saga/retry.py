"""Retry policies: how often a failed step or compensation is tried again, and when.

A step handler asks for another attempt by raising ``RetryableError`` (or an
exception type named in the policy's ``retry_on`` or ``SAGA['RETRY_ON']``);
any other exception fails the step at once. A compensation, and a step after
the saga's pivot, is retried on any exception: neither can be undone, so
their attempts run out before an operator is called. Delays grow exponentially, are capped
at ``max_delay`` and spread by ``jitter`` so that a crowd of failures does not
retry in lockstep. The delay becomes the outbox row's available time: no
broker plugin is involved.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from django.db import OperationalError
from django.utils.module_loading import import_string

from . import validation
from .conf import saga_settings
from .errors import SagaDefinitionError, SagaError, brief


class RetryableError(SagaError):
    """Raise from a handler when another attempt may succeed (a timeout, a 503)."""


class StepTimeout(RetryableError):
    """The step ran, or waited, longer than its timeout: a failed attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, a handler's failed attempts are tried again.

    Unset fields come from the settings (``RETRY_*``, ``COMPENSATION_MAX_ATTEMPTS``).
    ``max_attempts`` counts the first attempt; the delay after attempt n is
    ``backoff * multiplier ** (n - 1)``, capped at ``max_delay`` and spread by
    ``jitter`` (a fraction of it either way); ``retry_on`` names more
    exception types worth another try besides ``RetryableError``.
    """

    max_attempts: int | None = None
    backoff: float | None = None
    multiplier: float = 2.0
    max_delay: float | None = None
    jitter: float | None = None
    retry_on: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if attempts is not None and (
            isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1
        ):
            raise SagaDefinitionError(
                f"max_attempts must be an integer of at least 1, got {brief(attempts)}"
            )
        for name in ("backoff", "max_delay"):
            value = getattr(self, name)
            if value is not None and value != 0:
                validation.seconds(value, f"RetryPolicy {name}")
        _number(self.jitter, "jitter", 0, 1, optional=True)
        _number(self.multiplier, "multiplier", 1, 1000)
        if not isinstance(self.retry_on, tuple) or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_on
        ):
            raise SagaDefinitionError(
                f"retry_on must be a tuple of exception classes, got {self.retry_on!r}"
            )

    def resolved(self, compensation: bool = False) -> RetryPolicy:
        """This policy with unset fields taken from the settings."""
        s = saga_settings
        return RetryPolicy(
            max_attempts=self.max_attempts
            or (s.COMPENSATION_MAX_ATTEMPTS if compensation else s.RETRY_MAX_ATTEMPTS),
            backoff=s.RETRY_BACKOFF if self.backoff is None else self.backoff,
            multiplier=self.multiplier,
            max_delay=s.RETRY_MAX_DELAY if self.max_delay is None else self.max_delay,
            jitter=s.RETRY_JITTER if self.jitter is None else self.jitter,
            retry_on=self.retry_on,
        )

    def delay(self, failed_attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after attempt number ``failed_attempt`` (1-based) failed."""
        assert self.backoff is not None and self.max_delay is not None
        assert self.jitter is not None
        try:
            grown = self.backoff * self.multiplier ** max(failed_attempt - 1, 0)
        except OverflowError:  # a float power past 1e308 raises instead of giving inf
            grown = math.inf
        base = min(self.max_delay, grown) if self.backoff > 0 else 0.0
        # Spread evenly over base * (1 - jitter) .. base * (1 + jitter), then cap.
        spread = base * self.jitter * (2 * rand() - 1)
        return max(0.0, min(self.max_delay, base + spread))

    def retries(
        self, exc: BaseException, attempt: int, compensation: bool = False, forward: bool = False
    ) -> bool:
        """Whether attempt number ``attempt``, which raised ``exc``, gets another try.

        ``forward``: the step comes after the saga's pivot, so a failure can
        only halt the saga for an operator. Any exception is retried then,
        except a ``SagaDefinitionError`` (an unknown action, an output that
        is not JSON), which no retry can mend.
        """
        assert self.max_attempts is not None
        if attempt >= self.max_attempts:
            return False
        if compensation:
            return True
        if forward:
            return not isinstance(exc, SagaDefinitionError)
        return isinstance(exc, (*ALWAYS_RETRYABLE, *self.retry_on, *_setting_types()))


def _number(value: object, name: str, low: float, high: float, optional: bool = False) -> None:
    if value is None and optional:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not low <= value <= high  # False for NaN; compared as is, so a huge int never overflows
    ):
        raise SagaDefinitionError(
            f"{name} must be a number from {low:g} to {high:g}, got {brief(value)}"
        )


def _setting_types() -> tuple[type[BaseException], ...]:
    return tuple(import_string(path) for path in saga_settings.RETRY_ON)


DEFAULT = RetryPolicy()

#: Retried whatever the policy says: the step asked for it, or the database
#: reported a deadlock, a serialization failure or a dropped connection.
ALWAYS_RETRYABLE: tuple[type[BaseException], ...] = (RetryableError, OperationalError)
