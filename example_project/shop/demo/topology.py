"""The demo's queues and exchanges deleted from RabbitMQ when it ends.

On RabbitMQ the demo's exchanges and queues are the shop's own
(``example_shop.*``, see ``SAGA_BROKER_PREFIX``): no other project's messages
are in them. Each is deleted unless something else still uses it (an engine
of the shop consuming, say); those are named, for ``--delete-topology`` to
delete later.
"""

from __future__ import annotations

import contextlib
from urllib.parse import quote, urlsplit, urlunsplit

import pika

from django_saga.conf import saga_settings


def delete_topology(url: str) -> tuple[bool, str]:
    """Delete the exchanges and queues the demo declared on the broker at
    ``url``, each unless something else uses it. Whether all are gone, and
    what to say: what was deleted, or what was left, why, and how to delete
    it later."""
    queues = [
        saga_settings.STEP_QUEUE,
        saga_settings.COMPENSATE_QUEUE,
        saga_settings.PRIORITY_QUEUE,
        saga_settings.DEAD_LETTER_QUEUE,
    ]
    exchanges = [saga_settings.EXCHANGE, saga_settings.DEAD_LETTER_EXCHANGE]
    left: list[tuple[str, str, str]] = []  # (kind, name, why)
    gone: list[str] = []
    discarded = 0
    vhost = "/"
    try:
        params = _parameters(url)
        vhost = params.virtual_host
        connection = pika.BlockingConnection(params)
    except (pika.exceptions.AMQPError, OSError, ValueError, TypeError) as exc:
        why = f"could not connect: {exc!r}"
        left = [("queue", q, why) for q in queues] + [("exchange", e, why) for e in exchanges]
    else:
        try:
            for queue in queues:
                try:
                    deleted = connection.channel().queue_delete(queue, if_unused=True)
                    discarded += deleted.method.message_count
                    gone.append(queue)
                except pika.exceptions.ChannelClosedByBroker as exc:
                    left.append(("queue", queue, _refusal("queue", exc)))
            for exchange in exchanges:
                try:
                    connection.channel().exchange_delete(exchange, if_unused=True)
                    gone.append(exchange)
                except pika.exceptions.ChannelClosedByBroker as exc:
                    left.append(("exchange", exchange, _refusal("exchange", exc)))
        except pika.exceptions.AMQPError as exc:
            why = f"the connection failed: {exc!r}"
            done = gone + [name for _, name, _ in left]
            left += [("queue", q, why) for q in queues if q not in done]
            left += [("exchange", e, why) for e in exchanges if e not in done]
        finally:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()
    if not left:
        return True, (
            f"RabbitMQ: deleted the demo's queues ({', '.join(queues)}) and exchanges "
            f"({', '.join(exchanges)}) from vhost {vhost!r}"
            + (f", and the {discarded} message(s) still in them" if discarded else "")
        )
    lines = [f"RabbitMQ: the demo left these in vhost {vhost!r}:"]
    lines += [f"  {kind} {name}: {why}" for kind, name, why in left]
    lines.append(
        "Delete them once nothing uses them: ./run demo --delete-topology "
        "(python manage.py saga_demo --delete-topology)"
    )
    return False, "\n".join(lines)


def _parameters(url: str) -> pika.URLParameters:
    """pika's parameters for ``url``, with ``SAGA['BROKER_PASSWORD']`` put in if set."""
    password = saga_settings.BROKER_PASSWORD
    if password:
        parts = urlsplit(url)
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user.partition(':')[0] or 'guest'}:{quote(password, safe='')}@{host}"
        url = urlunsplit(parts._replace(netloc=netloc))
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 5
    return params


def _refusal(kind: str, exc: pika.exceptions.ChannelClosedByBroker) -> str:
    if exc.reply_code == 406:  # PRECONDITION_FAILED: if_unused did not hold
        return (
            "in use: something still consumes from it (an engine of the shop?)"
            if kind == "queue"
            else "in use: a queue is still bound to it"
        )
    return f"the broker refused: {exc.reply_text}"
