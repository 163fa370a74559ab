"""Handlers by action name.

A step handler and a compensation handler are both plain callables
``handler(saga, step)``. Register them with the decorators or, from an
``AppConfig.ready()``, with ``register_step_handler`` /
``register_compensation_handler``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import validation
from .conf import saga_settings
from .errors import DuplicateHandlerError, SagaDefinitionError, UnknownActionError
from .limits import Limit
from .messages import COMPENSATE, EXECUTE
from .retry import DEFAULT, RetryPolicy

#: What the documentation calls the handlers of each kind.
LABELS = {EXECUTE: "step", COMPENSATE: "compensation"}
#: Action names django-saga keeps for steps of its own (``models.SLEEP_ACTION``).
RESERVED_PREFIX = "saga."

Handler = Callable[[Any, Any], Any]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class HandlerSpec:
    """A handler with its retry policy, timeout (seconds, None for the
    default) and concurrency limit (None: unlimited)."""

    func: Handler
    retry: RetryPolicy = DEFAULT
    timeout: float | None = None
    limit: Limit | None = None


class HandlerRegistry:
    """Two name -> handler maps: one for steps, one for compensations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Keyed by the message kind that runs them: execute (step handlers)
        # and compensate (compensation handlers).
        self._handlers: dict[str, dict[str, HandlerSpec]] = {EXECUTE: {}, COMPENSATE: {}}

    def register(
        self,
        kind: str,
        action: str,
        handler: Handler,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        limit: Limit | None = None,
    ) -> Handler:
        validation.text(
            action,
            f"The {LABELS[kind]} handler's action name",
            validation.NAME_MAX_CHARS,
            plain=validation.LABEL,
        )
        if action.startswith(RESERVED_PREFIX):
            raise SagaDefinitionError(
                f"The action name {action!r} is reserved: names starting with "
                f"{RESERVED_PREFIX!r} are django-saga's own steps (such as a Sleep)"
            )
        if not callable(handler):
            raise TypeError(
                f"The {LABELS[kind]} handler for {action!r} is not callable: {handler!r}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry for {action!r} must be a RetryPolicy, got {retry!r}")
        validation.seconds(timeout, f"timeout for {action!r}")
        with self._lock:
            table = self._handlers[kind]
            existing = table.get(action)
            if existing is not None and _identity(existing.func) != _identity(handler):
                raise DuplicateHandlerError(
                    f"{LABELS[kind].capitalize()} action {action!r} already has a handler "
                    f"({_identity(existing.func)}); refusing {_identity(handler)}"
                )
            table[action] = HandlerSpec(handler, retry or DEFAULT, timeout, limit)
        return handler

    def unregister(self, kind: str, action: str) -> None:
        with self._lock:
            self._handlers[kind].pop(action, None)

    def get(self, kind: str, action: str) -> Handler:
        return self.spec(kind, action).func

    def spec(self, kind: str, action: str) -> HandlerSpec:
        try:
            return self._handlers[kind][action]
        except KeyError:
            known = ", ".join(sorted(self._handlers[kind])) or "none"
            raise UnknownActionError(
                f"No {LABELS[kind]} handler is registered for action {action!r} "
                f"(registered: {known})"
            ) from None

    def has(self, kind: str, action: str) -> bool:
        return action in self._handlers[kind]

    def limit(self, kind: str, action: str) -> Limit | None:
        """The action's concurrency limit (None: unlimited, or no handler)."""
        spec = self._handlers[kind].get(action)
        return None if spec is None else spec.limit

    def limited(self) -> list[tuple[str, str, Limit]]:
        """Every (kind, action, limit) a handler declares, by kind and action."""
        return [
            (kind, action, spec.limit)
            for kind, table in sorted(self._handlers.items())
            for action, spec in sorted(table.items())
            if spec.limit is not None
        ]

    def actions(self, kind: str) -> list[str]:
        return sorted(self._handlers[kind])


def _identity(handler: Handler) -> str:
    """Where a handler was defined: the same for a module imported twice.

    A module imported again (autodiscovery plus a direct import) yields new
    function objects from the same source lines: not a conflict. Two lambdas
    or two same-named functions of one module differ by their line.
    """
    name = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', handler)}"
    code = getattr(handler, "__code__", None)
    if code is None:
        return f"{name} (object {id(handler):#x})"
    return f"{name} ({code.co_filename}:{code.co_firstlineno})"


registry = HandlerRegistry()


def step_timeout(action: str, declared: float | None) -> float | None:
    """The timeout of a step running ``action``: its own (``declared``),
    else its handler's, else ``SAGA['STEP_TIMEOUT']``.

    Each is checked where it is declared (the step in ``normalise_steps``, the
    handler's at registration); the setting is checked here too, since a
    project may start sagas without running the system checks.
    """
    if declared is not None:
        return float(declared)
    if registry.has(EXECUTE, action):
        handler_timeout = registry.spec(EXECUTE, action).timeout
        if handler_timeout is not None:
            return float(handler_timeout)
    return validation.seconds(saga_settings.STEP_TIMEOUT, "SAGA['STEP_TIMEOUT']")


def register_step_handler(
    action: str,
    handler: Handler,
    *,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    concurrency: int | None = None,
    per: str | None = None,
    rate: str | None = None,
) -> Handler:
    """Register ``handler(saga, step)`` as the step handler for ``action``.

    ``retry`` overrides the project's retry settings for this action;
    ``timeout`` (seconds) is how long one attempt may take; ``concurrency``
    is how many runs may be under way at once across every engine (per
    saga key with ``per="key"``); ``rate`` (``"50/s"``, ``"300/m"``) how
    often one may start.
    """
    limit = Limit.declared(concurrency, per, action, rate)
    return registry.register(EXECUTE, action, handler, retry, timeout, limit)


def register_compensation_handler(
    action: str,
    handler: Handler,
    *,
    retry: RetryPolicy | None = None,
    concurrency: int | None = None,
    per: str | None = None,
    rate: str | None = None,
) -> Handler:
    """Register ``handler(saga, step)`` as the compensation for ``action``
    (``concurrency``, ``per`` and ``rate`` as for a step handler)."""
    limit = Limit.declared(concurrency, per, action, rate)
    return registry.register(COMPENSATE, action, handler, retry, limit=limit)


def step_handler(
    action: str,
    *,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    concurrency: int | None = None,
    per: str | None = None,
    rate: str | None = None,
) -> Callable[[H], H]:
    """Decorator form of :func:`register_step_handler`."""

    def decorate(func: H) -> H:
        register_step_handler(
            action, func, retry=retry, timeout=timeout, concurrency=concurrency, per=per, rate=rate
        )
        return func

    return decorate


def compensation_handler(
    action: str,
    *,
    retry: RetryPolicy | None = None,
    concurrency: int | None = None,
    per: str | None = None,
    rate: str | None = None,
) -> Callable[[H], H]:
    """Decorator form of :func:`register_compensation_handler`."""

    def decorate(func: H) -> H:
        register_compensation_handler(
            action, func, retry=retry, concurrency=concurrency, per=per, rate=rate
        )
        return func

    return decorate
