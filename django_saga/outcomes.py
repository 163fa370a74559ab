"""What a step handler may return besides its output dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pending:
    """The handler started outside work: the step waits for its result.

    The step becomes ``waiting`` and completes when
    ``manager.complete_step()`` / ``manager.fail_step()`` (or the webhook view)
    reports the outcome. ``output`` is saved now (e.g. the outside service's
    reference); ``timeout`` (seconds from now) replaces the step's own timeout
    for the wait, after which the attempt counts as failed.
    """

    output: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None

    def __post_init__(self) -> None:
        timeout = self.timeout
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise ValueError(f"Pending timeout must be a positive number of seconds: {timeout!r}")


@dataclass(frozen=True)
class Skip:
    """The step does not apply to this saga: it is ``skipped`` and never compensated."""

    reason: str = ""
