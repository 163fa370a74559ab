"""Fixtures of the in-process tests: run a test once per store."""

from __future__ import annotations

import pytest

STORE_PATHS = {
    "django": "django_saga.stores.django.DjangoStore",
    "memory": "django_saga.stores.memory.MemoryStore",
}


@pytest.fixture(params=sorted(STORE_PATHS))
def store(request, settings) -> str:
    """Run the test once per store: the Django-model store and the in-memory store."""
    settings.SAGA = {**settings.SAGA, "STORE": STORE_PATHS[request.param]}
    return str(request.param)
