"""What a step handler may return besides its output dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import validation
from .errors import SagaDefinitionError


@dataclass(frozen=True)
class Pending:
    """The handler started outside work: the step waits for its result.

    The step becomes ``waiting`` and completes when
    ``manager.complete_step()`` / ``manager.fail_step()`` (or the webhook view)
    reports the outcome. Hand the outside service what the report must name:
    ``saga.id`` (or the saga's name and key), ``step.name`` and
    ``step.attempts``. ``output`` is saved now (e.g. the outside service's
    reference); ``timeout`` (seconds from now) replaces the step's own timeout
    for the wait, after which the attempt counts as failed.

    However the wait ends without completing the step (it times out for
    good, the service reports a failure, the saga is compensated meanwhile),
    the step's compensation runs, with this output: what the handler started
    may have happened.
    """

    output: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None

    def __post_init__(self) -> None:
        validation.seconds(self.timeout, "Pending timeout")
        if not isinstance(self.output, Mapping):
            raise SagaDefinitionError(
                f"Pending output must be a dict, got {type(self.output).__name__}"
            )


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
