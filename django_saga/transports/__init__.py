"""Brokers behind one interface: RabbitMQ (amqp://) and in-process (memory://)."""

from __future__ import annotations

from .base import Connection, Delivery, Topology, connect

__all__ = ["Connection", "Delivery", "Topology", "connect"]
