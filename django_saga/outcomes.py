"""What a step handler may return besides its output dict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import validation
from .errors import SagaDefinitionError, brief

#: What the clock does when a wait runs out (``Pending(on_timeout=...)``):
#: the attempt fails and is retried as its policy says (the default),
RETRY = "retry"
#: the step fails at once, whatever retries its policy has left,
FAIL = "fail"
#: or the step completes with ``timeout_output`` ("no answer means yes").
COMPLETE = "complete"
ON_TIMEOUT = (RETRY, FAIL, COMPLETE)


@dataclass(frozen=True)
class Pending:
    """The handler started outside work: the step waits for its result.

    The step becomes ``waiting`` and completes when
    ``manager.complete_step()`` / ``manager.fail_step()`` (or the webhook view)
    reports the outcome. Hand the outside service what the report must name:
    ``saga.id`` (or the saga's name and key), ``step.name`` and
    ``step.attempts``. ``output`` is saved now (e.g. the outside service's
    reference); ``timeout`` (seconds from now) replaces the step's own timeout
    for the wait.

    ``on_timeout`` says what happens when the wait runs out with no result:
    ``"retry"`` (the attempt fails and the handler runs again if its retry
    policy allows), ``"fail"`` (the step fails at once) or ``"complete"``
    (the step completes, ``timeout_output`` merged into its output).

    However the wait ends without completing the step (it times out for
    good, the service reports a failure, the saga is compensated meanwhile),
    the step's compensation runs, with this output: what the handler started
    may have happened.
    """

    output: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    on_timeout: str = RETRY
    timeout_output: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        validation.seconds(self.timeout, "Pending timeout")
        if not isinstance(self.output, Mapping):
            raise SagaDefinitionError(
                f"Pending output must be a dict, got {type(self.output).__name__}"
            )
        if self.on_timeout not in ON_TIMEOUT:
            raise SagaDefinitionError(
                f"Pending on_timeout must be one of {', '.join(map(repr, ON_TIMEOUT))}, "
                f"got {brief(self.on_timeout)}"
            )
        if self.timeout_output is not None:
            if self.on_timeout != COMPLETE:
                raise SagaDefinitionError(
                    "Pending timeout_output is the output of a step completed when its "
                    f"wait runs out: it needs on_timeout='complete', not {self.on_timeout!r}"
                )
            if not isinstance(self.timeout_output, Mapping):
                raise SagaDefinitionError(
                    "Pending timeout_output must be a dict, "
                    f"got {type(self.timeout_output).__name__}"
                )

    def when_timed_out(self) -> dict[str, Any]:
        """What the step's history keeps of ``on_timeout`` (nothing for the default)."""
        if self.on_timeout == RETRY:
            return {}
        kept: dict[str, Any] = {"on_timeout": self.on_timeout}
        if self.on_timeout == COMPLETE:
            kept["timeout_output"] = validation.to_json(
                dict(self.timeout_output or {}), "Pending timeout_output"
            )
        return kept


@dataclass(frozen=True)
class Skip:
    """The step does not apply to this saga: it is ``skipped`` and never compensated."""

    reason: str = ""

    def __post_init__(self) -> None:
        validation.text(
            self.reason,
            "Skip reason",
            validation.ERROR_MAX_CHARS,
            blank=True,
            plain=validation.PROSE,
        )


#: The key of its step's output a ``FanOut`` keeps its list under.
FAN_OUT = "items"


@dataclass(frozen=True)
class FanOut:
    """The handler found the list a later map stage goes over.

    The step completes with ``output`` and, under ``"items"``, the list;
    a map then names the step alone: ``each("pay", "payouts.pay",
    over="find_sellers")``. The map refuses a list longer than
    ``SAGA['MAP_MAX_ITEMS']`` when it starts, failing its step.
    """

    items: Sequence[Any]
    output: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.items, str | bytes | Mapping) or not isinstance(self.items, Sequence):
            raise SagaDefinitionError(
                f"FanOut items must be a list, got {type(self.items).__name__}"
            )
        if not isinstance(self.output, Mapping):
            raise SagaDefinitionError(
                f"FanOut output must be a dict, got {type(self.output).__name__}"
            )
        if FAN_OUT in self.output:
            raise SagaDefinitionError(
                f"FanOut output may not hold {FAN_OUT!r}: the list goes there"
            )

    def as_output(self) -> dict[str, Any]:
        """The step's output: ``output`` with the list under ``"items"``."""
        return {**self.output, FAN_OUT: list(self.items)}
