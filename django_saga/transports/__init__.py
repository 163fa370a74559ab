"""Brokers behind one interface: RabbitMQ (amqp://) and in-process (memory://)."""

from __future__ import annotations

from collections.abc import Sequence

from ..conf import broker_urls, saga_settings
from .amqp import AmqpConnection
from .base import Connection, Delivery, Topology
from .memory import MemoryConnection

__all__ = ["Connection", "Delivery", "Topology", "connect"]


def connect(url: str | Sequence[str] | None = None, *, name: str = "django-saga") -> Connection:
    """Open a connection to the configured broker (or ``url``).

    ``url`` may name several RabbitMQ nodes (see ``BROKER_URL``): the first
    that answers is used.
    """
    urls = broker_urls(url or saga_settings.BROKER_URL)
    topology = Topology.from_settings()
    if urls and urls[0].startswith("memory://"):
        return MemoryConnection(urls[0], topology)
    return AmqpConnection(urls, topology, name=name)
