"""One declared setting: its default, the values it takes, and what it does.

``Setting.problem()`` is the whole check of one value: its type, its bounds,
its choices, and a further ``rule`` of its own (see ``rules``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..clock import MAX_SECONDS


@dataclass(frozen=True)
class Setting:
    """One key of ``SAGA``: its default, what values it takes, and what it does."""

    name: str
    default: Any
    kind: type | tuple[type, ...]
    doc: str
    #: Numbers must be greater than zero (otherwise at least zero).
    positive: bool = False
    #: A number of seconds: finite, and at most 366 days.
    span: bool = False
    #: The highest number allowed, if any.
    most: float | None = None
    #: The fewest characters a string (each string of a list) may hold unless
    #: it is empty, which turns off what it keys.
    min_chars: int = 0
    #: Why ``most`` and ``min_chars`` are what they are: said with a refusal.
    why: str = ""
    choices: tuple[str, ...] = ()
    nonempty: bool = False
    #: Never shown in a message.
    secret: bool = False
    #: A further rule: a problem with the value, or None.
    rule: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this setting (None if nothing)."""
        names = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        # bool is an int subclass: accept it only where a bool is asked for.
        if not isinstance(value, self.kind) or (isinstance(value, bool) and bool not in names):
            expected = " or ".join(k.__name__ for k in names)
            return f"expected {expected}, got {type(value).__name__}"
        if self.nonempty and not value:
            return "must not be empty"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, float) and math.isnan(value):
                return "must be a number, not NaN"
            if self.positive and value <= 0:
                return "must be greater than zero"
            if value < 0:
                return "must not be negative"
            if self.span and isinstance(value, float) and not math.isfinite(value):
                return "must be a finite number of seconds"
            if self.span and value > MAX_SECONDS:
                return f"must be at most {MAX_SECONDS:g} seconds (366 days)"
            if self.most is not None and value > self.most:
                return f"must be at most {_number(self.most)}{self._why()}"
        if self.choices and value not in self.choices:
            return "must be one of " + ", ".join(self.choices)
        if self.rule is not None and (problem := self.rule(value)) is not None:
            return problem
        return self._chars_problem(value)

    def _chars_problem(self, value: Any) -> str | None:
        strings = value if isinstance(value, list | tuple) else [value]
        each = " each" if strings is value else ""
        for string in strings:
            if not isinstance(string, str) or not string:
                continue
            if not string.strip():
                return f"must not be only spaces{each} (an empty string turns it off)"
            if len(string) < self.min_chars:
                return f"must be at least {self.min_chars} characters{each}{self._why()}"
        return None

    def _why(self) -> str:
        return f" ({self.why})" if self.why else ""


def _number(value: float) -> str:
    """``65,535`` rather than ``65535``, and ``6.71089e+07`` never."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,g}"
