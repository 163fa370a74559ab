"""Test sagas to their end in a test's database, with no engine, no broker and no waiting.

``SagaTestKit`` stands in for the engine, its relay and its sweeper, all in
the test's own thread: inside a ``TestCase`` the saga lives in the test's
uncommitted transaction, which an engine's threads (other connections)
would never see. It delivers each message from the outbox table the way
the relay would, through the engine's own ``Processor`` (every unit a
savepoint of the test's transaction), and a test clock decides what is
due: retries, timeouts, deadlines and re-drives come due when the test
says ``advance(minutes=15)``, not fifteen minutes later. While it is
installed it keeps what django-saga logs (``kit.logs``) instead of letting a
step failing on purpose print warnings through the test run's output.

The test clock and the exact retry delays hold in the thread that installed
the kit (its context) and nowhere else: an engine's threads, a live server's
or another test's keep the real time. The kit refuses a database that is not
a test database (``allow_any_database`` overrides it): it claims and marks
sent what is in the outbox, which on a live database belongs to the engines.

    kit = SagaTestKit()
    with kit:
        saga = kit.start(OrderSaga(order_id=7))
        kit.advance(minutes=15)
        kit.assert_saga(saga, state="compensated", ran=["accept"], compensated=["accept"])

See the how-to "Testing your sagas" for ``TestCase`` and pytest. The
package's parts: ``kit`` (``SagaTestKit``, driving the sagas), ``clock`` (the
test clock and exact retry delays), ``database`` (which databases the kit
runs on), ``commits`` (on-commit callbacks in a test's transaction),
``timeline`` (what happened to each saga), ``assertions`` (what
``assert_saga`` compares) and ``logs`` (the log capture).
"""

from .clock import TestClock
from .database import TEST_PREFIX as TEST_PREFIX
from .kit import BATCH as BATCH
from .kit import MAX_MESSAGES as MAX_MESSAGES
from .kit import SagaTestError, SagaTestKit
from .logs import LOG_FORMAT as LOG_FORMAT
from .logs import LOGGER as LOGGER
from .timeline import Event

__all__ = ["Event", "SagaTestError", "SagaTestKit", "TestClock"]
