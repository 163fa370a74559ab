"""The ids every row of the app carries: ULIDs, kept as their 26-character strings."""

from __future__ import annotations

from ulid import ULID

#: A ULID's length as a string: the id columns' length.
SAGA_ID_MAX_CHARS = 26


def new_id() -> str:
    """A ULID as its 26-character string: sortable by creation time."""
    return str(ULID())
