"""Saga persistence: the Store protocol and the store chosen by ``SAGA['STORE']``."""

from __future__ import annotations

import threading

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from ..conf import saga_settings
from .base import Store, Unit
from .hand import HandOperations

__all__ = ["HandOperations", "Store", "Unit", "get_store"]

_cache: dict[str, Store] = {}
_lock = threading.Lock()


def get_store() -> Store:
    """The configured store: one instance per process, so the in-memory store is shared."""
    path = saga_settings.STORE
    with _lock:
        store = _cache.get(path)
        if store is None:
            store = import_string(path)()
            _cache[path] = store
        return store


@receiver(setting_changed)
def _forget_store(setting: str, **kwargs: object) -> None:
    if setting == "SAGA":
        with _lock:
            _cache.clear()
