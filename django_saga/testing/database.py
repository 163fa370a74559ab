"""Whether a database is one the test runners set up: the kit claims the
outbox's messages and marks them sent, which on a live database would take
them from the engines."""

from __future__ import annotations

import os
import re

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

#: What a test database's name starts with (Django's TEST_DATABASE_PREFIX).
TEST_PREFIX = "test_"


def require_test_database(alias: str) -> None:
    """Refuse (``ImproperlyConfigured``) the database ``alias`` unless it is a
    test database, or a replica under test reading its primary's."""
    connection = connections[alias]
    test = connection.settings_dict.get("TEST") or {}
    if test.get("MIRROR"):  # a replica under test reads its primary's test database
        connection = connections[test["MIRROR"]]
        test = connection.settings_dict.get("TEST") or {}
    name = os.fspath(connection.settings_dict.get("NAME") or "")
    if is_test_database(name, os.fspath(test.get("NAME") or ""), connection.vendor):
        return
    raise ImproperlyConfigured(
        f"SagaTestKit will not run on the database {alias!r} (NAME {name!r}): it is not a "
        "test database. The kit claims the outbox's messages and marks them sent, as an "
        "engine's relay does, so on a live database it would take them from the engines. "
        "It runs on the databases that Django's test runner and pytest-django create (a "
        f"name starting with {TEST_PREFIX!r}, the TEST NAME of the settings, SQLite in "
        "memory); SagaTestKit(allow_any_database=True) runs it on this one anyway."
    )


def is_test_database(name: str, test_name: str, vendor: str) -> bool:
    """Whether a database named ``name`` is one the test runners set up."""
    if vendor == "sqlite":
        if name == ":memory:" or name.startswith("file:memorydb") or "mode=memory" in name:
            return True
        if os.path.basename(name).startswith(TEST_PREFIX):
            return True
        root, ext = os.path.splitext(test_name)
    else:
        if name.startswith(TEST_PREFIX):
            return True
        root, ext = test_name, ""
    # The runner switched NAME to TEST NAME; a parallel run adds "_<n>" to each copy.
    return bool(test_name) and (
        name == test_name
        or re.fullmatch(re.escape(root) + r"_\d+" + re.escape(ext), name) is not None
    )
