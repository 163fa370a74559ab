"""This thread's database connections, kept healthy for a long-running engine thread."""

from __future__ import annotations

import contextlib

from django.db import DatabaseError, connections


def close_broken_connections() -> None:
    """Close this thread's connections that saw an error and no longer answer.

    Unlike Django's ``close_old_connections`` this ignores ``CONN_MAX_AGE``:
    a long-running engine thread keeps a healthy connection (no reconnect per
    message), whatever the project sets for its web requests.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()


def drop_connections() -> None:
    """Close this thread's connections, whatever state they are in (after a database error)."""
    for conn in connections.all(initialized_only=True):
        with contextlib.suppress(DatabaseError):
            conn.close()
