"""The console's pages on a read replica (``SAGA['CONSOLE_DATABASE']``).

The console's views mark the reads of a page shown by GET (``console_reads``)
and ``ConsoleReadRouter``, installed in ``DATABASE_ROUTERS``, sends
django-saga's models read there to the replica. Nothing else moves: engines,
``start()`` and every action (a POST) read and lock on the primary, since a
replica can neither lock a row nor see a write the moment it commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings

APP_LABEL = "django_saga"
ROUTER_PATH = "django_saga.routers.ConsoleReadRouter"

_reading_from: ContextVar[str | None] = ContextVar("django_saga_console_reads", default=None)


@contextmanager
def console_reads(alias: str | None) -> Iterator[None]:
    """Within the block, django-saga's reads go to ``alias`` (None: nowhere else)."""
    token = _reading_from.set(alias)
    try:
        yield
    finally:
        _reading_from.reset(token)


def router_installed() -> bool:
    return ROUTER_PATH in getattr(settings, "DATABASE_ROUTERS", [])


class ConsoleReadRouter:
    """Routes django-saga's reads inside ``console_reads`` to its alias; has no
    say anywhere else (writes, migrations, relations, other apps' models)."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        if model._meta.app_label != APP_LABEL:
            return None
        return _reading_from.get()
