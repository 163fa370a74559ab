"""What the store's tests share: each store, a saga to save, a row held by
another transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, models, transaction

from django_saga.models import Saga, SagaState, SagaStep
from django_saga.stores import Store, get_store
from django_saga.stores.django import DjangoStore
from django_saga.stores.memory import MemoryStore


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


STORES = {
    "django": ("django_saga.stores.django.DjangoStore", DjangoStore),
    "memory": ("django_saga.stores.memory.MemoryStore", MemoryStore),
}


@pytest.fixture(params=sorted(STORES))
def store(request, settings) -> Store:
    path, cls = STORES[request.param]
    settings.SAGA = {**settings.SAGA, "STORE": path}
    built = get_store()
    assert type(built) is cls
    return built


def make_saga(name: str = "order", state: str = SagaState.STARTED, n: int = 3) -> Saga:
    saga = Saga(name=name, state=state, context={"tag": name})
    saga.set_steps(
        [
            SagaStep(
                saga=saga,
                position=99,
                name=f"s{i}",
                action="test.record",
                compensation="test.undo",
                input={"i": i},
            )
            for i in range(n)
        ]
    )
    return saga
