"""Opening a connection to RabbitMQ: pika's parameters for a URL, and the
first node of a cluster that answers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from urllib.parse import quote, urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ...conf import safe_url, saga_settings
from ...errors import BrokerUnavailable

logger = logging.getLogger("django_saga.transports.amqp")

#: What a broker that runs answers to a wrong user, password or virtual host.
REFUSALS = (
    pika.exceptions.ProbableAuthenticationError,
    pika.exceptions.ProbableAccessDeniedError,
    pika.exceptions.AuthenticationError,
    pika.exceptions.ConnectionClosedByBroker,
)


def open_first(
    urls: Sequence[str], name: str
) -> tuple[str, pika.BlockingConnection, BlockingChannel]:
    """The first of ``urls`` that answers, its connection and a channel on it.

    ``BrokerUnavailable`` if none does, saying why for each (passwords
    masked), with ``refused`` set when every one of them refused us (a wrong
    user, password or virtual host, rather than a broker down); a warning
    names those that did not answer when a later one did.
    """
    failures: list[str] = []
    refused: list[bool] = []
    for url in urls:
        params = parameters(url, name)
        connection: pika.BlockingConnection | None = None
        try:
            connection = pika.BlockingConnection(params)
            channel = connection.channel()
        except (pika.exceptions.AMQPError, OSError) as exc:
            failures.append(f"{safe_url(url)}: {exc!r}")
            refused.append(isinstance(exc, REFUSALS))
            if connection is not None and connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                    connection.close()
            continue
        if failures:
            logger.warning(
                "Connected to RabbitMQ at %s; not reachable: %s",
                safe_url(url),
                "; ".join(failures),
            )
        return url, connection, channel
    error = BrokerUnavailable(f"Cannot connect to RabbitMQ at {'; '.join(failures)}")
    error.refused = all(refused)
    raise error


def parameters(url: str, name: str) -> pika.URLParameters:
    """pika's parameters for ``url``: ``SAGA['BROKER_PASSWORD']`` put in, the
    ``HEARTBEAT`` unless the URL sets one, one attempt, and ``name`` shown in
    the broker's list of connections."""
    try:
        params = pika.URLParameters(with_password(url, saga_settings.BROKER_PASSWORD))
    except (ValueError, TypeError) as exc:
        # Not the parser's own words: they may quote the URL, password and all.
        raise BrokerUnavailable(
            f"{safe_url(url)} is not a valid AMQP URL ({type(exc).__name__}): check its "
            "port, and percent-encode a '/', '?', '#' or '@' in the user or password"
        ) from exc
    if "heartbeat" not in url:
        params.heartbeat = saga_settings.HEARTBEAT
    params.connection_attempts = 1
    params.blocked_connection_timeout = 60
    params.client_properties = {"connection_name": name}
    return params


def with_password(url: str, password: str) -> str:
    """``url`` with ``SAGA['BROKER_PASSWORD']`` put in, if one is set (user guest if none)."""
    if not password:
        return url
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user or 'guest'}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
