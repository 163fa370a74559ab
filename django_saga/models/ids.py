"""The ids every row of the app carries: ULIDs, kept as their 26-character strings."""

from __future__ import annotations

from typing import Any

from ulid import ULID

from ..errors import SagaNotFound, brief
from ..validation import storable

#: A ULID's length as a string: the id columns' length.
SAGA_ID_MAX_CHARS = 26


def new_id() -> str:
    """A ULID as its 26-character string: sortable by creation time.

    Ids one process makes in the same millisecond sort in the order it made
    them too (python-ulid 4 increments the random part): a key's queue of
    sagas is taken in id order, so two starts in a row must not swap.
    """
    return str(ULID())


def plausible(value: Any, max_chars: int) -> bool:
    """Whether ``value`` could be an id or name at all: a string a column can hold."""
    if not isinstance(value, str):
        return False
    return 0 < len(value) <= max_chars and storable(value)


def saga_id_of(value: Any) -> str:
    """``value`` if some saga could have it as its id; else ``SagaNotFound`` at once.

    A string no id column can hold (too long, a NUL character) would make
    PostgreSQL raise a data error instead of finding nothing.
    """
    if not plausible(value, SAGA_ID_MAX_CHARS):
        raise SagaNotFound(f"No saga with id {brief(value)}")
    return str(value)
