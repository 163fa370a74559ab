"""Brokers behind one interface: RabbitMQ (amqp://) and in-process (memory://)."""

from __future__ import annotations

from ..conf import saga_settings
from .amqp import AmqpConnection
from .base import Connection, Delivery, Topology
from .memory import MemoryConnection

__all__ = ["Connection", "Delivery", "Topology", "connect"]


def connect(url: str | None = None, *, name: str = "django-saga") -> Connection:
    """Open a connection to the configured broker (or ``url``)."""
    url = url or saga_settings.BROKER_URL
    topology = Topology.from_settings()
    if url.startswith("memory://"):
        return MemoryConnection(url, topology)
    return AmqpConnection(url, topology, name=name)
