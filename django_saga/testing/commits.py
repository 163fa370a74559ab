"""On-commit callbacks run when a block ends, as a commit would run them,
inside a test's transaction that never commits."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from django.db import connections

logger = logging.getLogger("django_saga.testing")


@contextlib.contextmanager
def committed(using: str) -> Iterator[None]:
    """Run the on-commit callbacks (django-saga's signals) that what the block
    does on the database ``using`` adds, when it ends.

    Inside a ``TestCase`` (or pytest-django's ``db``) nothing commits: the
    callbacks would wait for the end of the test and be dropped. They are
    taken off the connection's list as they run, so a real commit later
    does not run them twice. Outside a transaction Django runs them at
    once and this does nothing.
    """
    connection = connections[using]
    first = len(connection.run_on_commit)
    try:
        yield
    finally:
        while connection.in_atomic_block and len(connection.run_on_commit) > first:
            # (savepoint ids, callback, robust): Django's stubs know two of them.
            entry: Any = connection.run_on_commit.pop(first)
            callback, robust = entry[1], entry[2]
            try:
                callback()
            except Exception:
                if not robust:
                    raise
                logger.exception("Error calling %s on commit", callback)
