"""An engine that sat idle hands off the next saga at once.

The broker closes a connection that misses its heartbeats. The outbox
relay's connection only waits while nothing is started: unless the relay
serves its heartbeats, the first ``start()`` after a quiet spell (a night,
say) finds it dead, and its saga waits out ``PUBLISH_GRACE`` before another
pass publishes it.
"""

from __future__ import annotations

import time

import pytest

from django_saga import manager
from tests.helpers import steps, wait_terminal

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]

#: Seconds the test's connections may go without a heartbeat frame; the
#: broker closes one after about two such intervals of silence.
HEARTBEAT = 1
#: Long, so that a saga stalled behind a dead relay connection is unmistakable.
GRACE = 60.0


def test_the_first_saga_after_an_idle_spell_is_handed_off_at_once(amqp, engine_process):
    engine = engine_process({**amqp, "HEARTBEAT": HEARTBEAT, "PUBLISH_GRACE": GRACE})
    first = manager.start("order", steps(("a", "test.record", "test.undo")))
    assert wait_terminal(first.id, 30).state == "completed"

    time.sleep(6 * HEARTBEAT)  # idle for three times the broker's heartbeat timeout

    started = time.monotonic()
    second = manager.start("order", steps(("a", "test.record", "test.undo")))
    assert wait_terminal(second.id, GRACE).state == "completed"
    waited = time.monotonic() - started
    assert waited < GRACE / 6, f"the saga after the idle spell waited {waited:.1f}s"
    log = engine.output()
    assert "missed heartbeats" not in log and "failed: StreamLostError" not in log, log
