"""django_saga.transports.amqp.connect: pika's parameters for a URL, and the first
node of a cluster that answers."""

from __future__ import annotations

import logging

import pytest

from django_saga.errors import BrokerUnavailable
from django_saga.transports.amqp.connect import open_first, parameters, with_password
from tests.conftest import RABBITMQ_URL

#: Nothing listens there: connecting is refused at once.
CLOSED = "amqp://saga:s3cr3t@127.0.0.1:1/%2F"


@pytest.mark.parametrize(
    ("url", "password", "expected"),
    [
        ("amqp://saga@mq:5672/%2F", "", "amqp://saga@mq:5672/%2F"),
        ("amqp://saga@mq:5672/%2F", "pw", "amqp://saga:pw@mq:5672/%2F"),
        ("amqp://mq:5672/%2F", "pw", "amqp://guest:pw@mq:5672/%2F"),
        ("amqps://saga@mq/v", "p/w?#@", "amqps://saga:p%2Fw%3F%23%40@mq/v"),
    ],
    ids=["none", "with-user", "no-user", "percent-encoded"],
)
def test_broker_password_is_put_in_the_url(url, password, expected):
    assert with_password(url, password) == expected


def test_parameters_take_the_heartbeat_and_the_password_from_the_settings(settings):
    settings.SAGA = {**settings.SAGA, "HEARTBEAT": 17, "BROKER_PASSWORD": "pw"}
    params = parameters("amqp://saga@mq:5672/%2F", "engine-1")
    assert params.heartbeat == 17
    assert params.credentials.username == "saga" and params.credentials.password == "pw"
    assert params.connection_attempts == 1
    assert params.client_properties == {"connection_name": "engine-1"}
    assert parameters("amqp://mq/%2F?heartbeat=5", "x").heartbeat == 5


def test_a_url_pika_cannot_read_is_refused_without_quoting_it():
    with pytest.raises(BrokerUnavailable) as refused:
        parameters("amqp://saga:s3cr3t@mq:port/%2F", "x")
    message = str(refused.value)
    assert "is not a valid AMQP URL (ValueError)" in message
    assert "s3cr3t" not in message


def test_no_node_answering_is_broker_unavailable_naming_each_masked():
    with pytest.raises(BrokerUnavailable) as failed:
        open_first([CLOSED, CLOSED.replace(":1/", ":2/")], "x")
    message = str(failed.value)
    assert message.startswith("Cannot connect to RabbitMQ at amqp://saga:***@127.0.0.1:1/%2F: ")
    assert "amqp://saga:***@127.0.0.1:2/%2F: " in message
    assert "s3cr3t" not in message
    assert failed.value.refused is False  # down, not refusing us


@pytest.mark.rabbitmq
def test_the_first_node_that_answers_is_used_and_the_others_named(caplog):
    with caplog.at_level(logging.WARNING, logger="django_saga.transports.amqp"):
        url, connection, channel = open_first([CLOSED, RABBITMQ_URL], "x")
    try:
        assert url == RABBITMQ_URL
        assert connection.is_open and channel.is_open
    finally:
        connection.close()
    [warning] = [r.getMessage() for r in caplog.records if r.name == "django_saga.transports.amqp"]
    assert warning.startswith("Connected to RabbitMQ at ")
    assert "not reachable: amqp://saga:***@127.0.0.1:1/%2F" in warning
