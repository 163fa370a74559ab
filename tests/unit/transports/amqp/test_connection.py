"""django_saga.transports.amqp.connection: one thread's connection to RabbitMQ."""

from __future__ import annotations

import pytest

from django_saga.errors import BrokerUnavailable
from django_saga.transports import connect
from tests.conftest import RABBITMQ_URL

PASSWORD = "hunter2-not-for-logs"


@pytest.mark.rabbitmq
def test_the_engine_connects_with_broker_password(settings):
    without_password = RABBITMQ_URL.replace("guest:guest@", "guest@")
    settings.SAGA = {**settings.SAGA, "BROKER_URL": without_password, "BROKER_PASSWORD": "guest"}
    connect().close()
    settings.SAGA = {**settings.SAGA, "BROKER_PASSWORD": PASSWORD}
    with pytest.raises(BrokerUnavailable) as refused:
        connect()
    assert PASSWORD not in str(refused.value)
