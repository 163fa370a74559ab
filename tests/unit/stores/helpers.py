"""What the store's tests share: a row held by another transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction


@contextmanager
def row_held(
    model: type[models.Model],
    pk: str,
    then: Callable[[], None] = lambda: None,
    release_after: float | None = None,
) -> Iterator[None]:
    """Another transaction (an engine running a step, an operator acting)
    holds the row of ``model`` for the block, or ``release_after`` seconds,
    and does ``then`` before it commits."""
    locked, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                list(model._default_manager.select_for_update().filter(pk=pk))
                locked.set()
                release.wait(30)
                then()
        except BaseException as exc:
            failures.append(exc)
            locked.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(30)
    if release_after is not None:
        threading.Timer(release_after, release.set).start()
    try:
        yield
    finally:
        release.set()
        thread.join(30)
    if failures:
        raise failures[0]
