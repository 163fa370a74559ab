"""django_saga.transports.base: the queues a message kind goes to, from the settings."""

from __future__ import annotations

import pytest

from django_saga.messages import COMPENSATE, EXECUTE
from django_saga.transports.base import Topology


def test_the_topology_is_named_by_the_settings(settings):
    settings.SAGA = {
        **settings.SAGA,
        "EXCHANGE": "shop.sagas",
        "STEP_QUEUE": "shop.steps",
        "COMPENSATE_QUEUE": "shop.undo",
        "DEAD_LETTER_EXCHANGE": "shop.dlx",
        "DEAD_LETTER_QUEUE": "shop.dead",
        "QUEUE_TYPE": "quorum",
        "PRIORITY_QUEUE": "shop.urgent",
    }
    assert Topology.from_settings() == Topology(
        "shop.sagas", "shop.steps", "shop.undo", "shop.dlx", "shop.dead", "quorum", "shop.urgent"
    )


def test_each_kind_of_message_goes_to_its_own_work_queue():
    topology = Topology("sagas", "saga.steps", "saga.compensate", "sagas.dlx", "saga.dead", "")
    assert topology.queue_for(EXECUTE) == "saga.steps"
    assert topology.queue_for(COMPENSATE) == "saga.compensate"
    # A high-priority saga's messages, of every kind, to the priority queue.
    assert topology.queue_for(EXECUTE, priority=1) == "saga.urgent"
    assert topology.queue_for(COMPENSATE, priority=1) == "saga.urgent"
    assert topology.work_queues == ("saga.urgent", "saga.steps", "saga.compensate")
    with pytest.raises(ValueError, match="No queue for message kind 'retry'"):
        topology.queue_for("retry")
