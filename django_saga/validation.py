"""Bounded inputs: every value a caller hands django-saga is checked before it is written.

A refusal is a ``SagaDefinitionError`` (so a ``ValueError``) that names the
field and the limit, raised before anything touches the database, so that a
refused call writes nothing. The same checks hold on every database: SQLite
would store a NUL character or a 300-character name that PostgreSQL refuses,
so the library refuses both itself.

JSON values (contexts, inputs, outputs) are walked without recursion before
they are encoded: a value nested thousands deep, or one built to expand into
millions of nodes, is refused after a bounded amount of work instead of
exhausting the interpreter's stack.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.functional import Promise

from .clock import MAX_SECONDS
from .conf import saga_settings
from .errors import LimitExceeded, NotJSONSerializableError, SagaDefinitionError, brief

#: The column length of saga and step names, actions and compensations.
NAME_MAX_CHARS = 200

#: How much of an error text (a handler's exception, an outside report) is kept.
ERROR_MAX_CHARS = 4000


#: A lone surrogate (U+D800 to U+DFFF) is no character: UTF-8 has no bytes for it,
#: so no database stores it. JSON's ``"\ud800"`` escape and Python's
#: ``surrogateescape`` error handler both make one.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: str) -> str | None:
    """The first lone surrogate in ``value``, escaped (``\\ud800``), or None."""
    if value.isascii():
        return None
    found = _SURROGATE.search(value)
    return None if found is None else _escaped(found)


def storable(value: str) -> bool:
    """Whether a text column can hold ``value`` at all (no NUL, no lone
    surrogate): for lookups, where a value no row can hold is simply not found."""
    return "\x00" not in value and _lone_surrogate(value) is None


def _escaped(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def _surrogate_refusal(field: str, found: str) -> str:
    return (
        f"{field} holds a lone surrogate ({found}), which is no character: UTF-8, and so "
        "the database, cannot store it (decode the text it came from as UTF-8)"
    )


def seconds(value: Any, field: str, *, allow_none: bool = True) -> float | None:
    """``value`` as a positive, finite number of seconds no longer than ``MAX_SECONDS``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SagaDefinitionError(
            f"{field} must be a positive number of seconds, got {brief(value)}"
        )
    # Compared before any float conversion: an int may be too large for a float.
    if (isinstance(value, float) and math.isnan(value)) or value <= 0:
        raise SagaDefinitionError(
            f"{field} must be a positive, finite number of seconds, got {brief(value)}"
        )
    if value > MAX_SECONDS:
        raise LimitExceeded(
            f"{field} is {brief(value)} seconds, over the limit of {MAX_SECONDS:g} seconds "
            "(366 days)"
        )
    return float(value)


#: Text an operator reads on a terminal or a page must not steer it: C0 and C1
#: control characters and DEL (terminal escapes), bidirectional overrides and
#: isolates (which reorder what is shown), and the Unicode line separators.
_STEERING = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
#: The same, less tab and line ends: a reason is prose, and browsers send CR LF.
_STEERING_IN_PROSE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
#: What ``text(plain=...)`` refuses: a label (a name, a key, who acts) or prose.
LABEL, PROSE = "label", "prose"


def text(
    value: Any,
    field: str,
    max_chars: int | None,
    *,
    blank: bool = False,
    plain: str | None = None,
) -> str:
    """``value`` as a string that fits its column and holds no NUL character.

    ``plain`` is for text shown to operators as it is: ``LABEL`` (a saga's or
    step's name, a key, an action, who acts) refuses every control character
    and bidirectional control; ``PROSE`` (a reason) allows tabs and line ends.
    """
    if not isinstance(value, str) or (not blank and not value.strip()):
        kind = "a string" if blank else "a non-empty string"
        raise SagaDefinitionError(f"{field} must be {kind}, got {brief(value)}")
    if "\x00" in value:
        raise SagaDefinitionError(
            f"{field} holds a NUL character (\\x00), which PostgreSQL cannot store"
        )
    if (found := _lone_surrogate(value)) is not None:
        raise SagaDefinitionError(_surrogate_refusal(field, found))
    if plain is not None:
        pattern = _STEERING if plain == LABEL else _STEERING_IN_PROSE
        if (steering := pattern.search(value)) is not None:
            char = steering.group()
            kind = "a control character" if ord(char) < 0xA0 else "a bidirectional control"
            escaped = f"\\x{ord(char):02x}" if ord(char) < 0x100 else _escaped(steering)
            raise SagaDefinitionError(
                f"{field} holds {kind} ({escaped}), which would steer the terminal or page "
                "that shows it"
            )
    if max_chars is not None and len(value) > max_chars:
        raise LimitExceeded(
            f"{field} is {len(value)} characters long, over the limit of {max_chars}"
        )
    return value


def clean_error(value: str) -> str:
    """An error text the engine records whatever it holds: NULs and lone
    surrogates escaped, length capped.

    Used for text the engine did not choose (a handler's exception message):
    refusing it would lose the failure, so it is made storable instead.
    """
    value = value.replace("\x00", "\\x00")
    if not value.isascii():
        value = _SURROGATE.sub(_escaped, value)
    if len(value) > ERROR_MAX_CHARS:
        cut = len(value) - ERROR_MAX_CHARS
        value = f"{value[:ERROR_MAX_CHARS]}… ({cut} more characters cut)"
    return value


def when(value: datetime | timedelta | float | None, field: str, now: datetime) -> datetime | None:
    """A deadline given as a time or a duration from ``now``, bounded like ``seconds()``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise SagaDefinitionError(
                f"{field} must be a timezone-aware datetime, got {brief(value)}"
            )
        if value - now > timedelta(seconds=MAX_SECONDS):
            raise LimitExceeded(
                f"{field} {value.isoformat()} lies more than {MAX_SECONDS:g} seconds "
                "(366 days) ahead"
            )
        return value
    if isinstance(value, timedelta):
        span = seconds(value.total_seconds(), field, allow_none=False)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        span = seconds(value, field, allow_none=False)
    else:
        raise SagaDefinitionError(
            f"{field} must be a datetime, a timedelta or seconds, got {brief(value)}"
        )
    assert span is not None
    return now + timedelta(seconds=span)


def to_json(value: Any, what: str) -> Any:
    """Return ``value`` as it will read back from a JSON column, or refuse it.

    Accepts whatever ``DjangoJSONEncoder`` handles (datetimes, Decimals,
    UUIDs, ...) and turns it into plain JSON types now, so that handlers see
    the same values from every store. Refuses NaN and infinities (JSON and
    jsonb have no room for them), NUL characters (PostgreSQL cannot store
    them) and lone surrogates (no database can), values nested deeper than
    ``SAGA['MAX_JSON_DEPTH']`` and values
    whose JSON is longer than ``SAGA['MAX_JSON_BYTES']``.
    """
    max_depth = saga_settings.MAX_JSON_DEPTH
    max_bytes = saga_settings.MAX_JSON_BYTES
    _walk(value, what, max_depth, max_bytes)
    try:
        encoded = json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise NotJSONSerializableError(f"{what} is not JSON-serializable: {exc}") from exc
    size = len(encoded.encode())
    if size > max_bytes:
        raise LimitExceeded(
            f"{what} is {size} bytes of JSON, over the limit of {max_bytes} "
            "(SAGA['MAX_JSON_BYTES'])"
        )
    return json.loads(encoded)


def _walk(value: Any, what: str, max_depth: int, max_bytes: int) -> None:
    """Check depth, NUL characters, lone surrogates and cycles without recursion.

    Every node costs at least one byte of JSON, so more than ``max_bytes``
    nodes cannot fit whatever they hold: the walk stops there, which bounds
    its work even for a value that shares one list many times over.
    """
    nodes = 0
    # (value, depth, ids of the containers above it)
    stack: list[tuple[Any, int, frozenset[int]]] = [(value, 0, frozenset())]
    while stack:
        node, depth, above = stack.pop()
        nodes += 1
        if nodes > max_bytes:
            raise LimitExceeded(
                f"{what} has more than {max_bytes} values, so its JSON would be over "
                "the limit of SAGA['MAX_JSON_BYTES']"
            )
        if isinstance(node, str):
            if "\x00" in node:
                raise NotJSONSerializableError(
                    f"{what} holds a NUL character (\\u0000), which PostgreSQL's jsonb cannot store"
                )
            if (found := _lone_surrogate(node)) is not None:
                raise NotJSONSerializableError(_surrogate_refusal(what, found))
            continue
        if isinstance(node, Promise):
            stack.append((str(node), depth, above))
            continue
        if isinstance(node, Mapping):
            children: list[Any] = []
            for key, item in node.items():
                if isinstance(key, str):
                    children.append(key)
                children.append(item)
        elif isinstance(node, list | tuple):
            children = list(node)
        else:
            continue  # a scalar, or a type the encoder converts (or refuses)
        if depth >= max_depth:
            raise LimitExceeded(
                f"{what} is nested more than {max_depth} levels deep (SAGA['MAX_JSON_DEPTH'])"
            )
        if id(node) in above:
            raise NotJSONSerializableError(f"{what} is not JSON-serializable: it contains itself")
        inner = above | {id(node)}
        stack.extend((child, depth + 1, inner) for child in children)


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")

#: The oldest age a caller may ask for (100 years of 366 days): older than any
#: saga, and far enough from the calendar's start that "now minus it" never overflows.
AGE_MAX = timedelta(days=100 * 366)


def age(text: str, what: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``12h``, ``30d`` or ``2w`` as a duration, at most ``AGE_MAX``.

    Raises ``SagaDefinitionError`` naming ``what`` for anything else.
    """
    match = _AGE.match(text) if isinstance(text, str) else None
    if match is None:
        raise SagaDefinitionError(
            f"{what} {brief(text)} is not an age: give a number and a unit, "
            "for example 3600s, 15m, 12h, 30d or 2w"
        )
    number, unit = match.groups()
    # float() of a long string of digits is inf, never an error.
    seconds = float(number) * _AGE_UNITS[unit or "s"]
    if not seconds <= AGE_MAX.total_seconds():
        raise _too_old(what, brief(text))
    return timedelta(seconds=seconds)


def age_span(value: Any, what: str) -> timedelta:
    """An age given as a ``timedelta``: not negative, and at most ``AGE_MAX``."""
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise SagaDefinitionError(f"{what} must be a timedelta of zero or more, got {brief(value)}")
    if value > AGE_MAX:
        raise _too_old(what, f"of {value.days:,} days")
    return value


def _too_old(what: str, given: str) -> LimitExceeded:
    return LimitExceeded(f"{what} {given} is over the limit of {AGE_MAX.days:,} days (100 years)")
