"""RabbitMQ through pika's BlockingConnection, with publisher confirms.

pika is not thread-safe: each thread opens its own ``AmqpConnection``, and
worker threads hand acks and publishes to the owning thread through
``call_threadsafe`` (pika's ``add_callback_threadsafe``).

The package's parts: ``connection`` (``AmqpConnection``: consuming,
publishing, acking, dead-lettering), ``connect`` (pika's parameters, and the
first node of a cluster that answers), ``topology`` (the exchanges and queues
declared), ``confirms`` (publisher confirms matched to their messages) and
``acks`` (acks merged into as few frames as is safe).
"""

from .confirms import CONFIRM_TIMEOUT
from .connection import AmqpConnection

__all__ = ["CONFIRM_TIMEOUT", "AmqpConnection"]
