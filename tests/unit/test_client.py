"""django_saga.client: what ``manager.start()`` refuses, accepts and records, in
a number of statements that does not grow with the saga; a waiting step's result
reported by the saga's key, bound to that saga by the step's report token.

No engine runs here: start() must validate and record on its own, and return
without talking to the broker. A web process importing the client API loads
no engine at all.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from django_saga import (
    SagaAlreadyActive,
    SagaDefinitionError,
    SagaNotFound,
    Step,
    UnknownActionError,
    manager,
)
from django_saga.api import Manager
from django_saga.errors import ReportTokenMismatch
from django_saga.messages import decode
from django_saga.models import OutboxMessage, Saga, SagaStep
from django_saga.stores.memory import MemoryStore
from tests.conftest import ROOT
from tests.helpers import steps
from tests.testapp.sagas import Report
from tests.unit.helpers import (
    ONE_STEP,
    assert_nothing_recorded,
    keyed_wait,
    start_steps,
    statements_of,
)

pytestmark = pytest.mark.django_db

ENGINE_MODULES = (
    "django_saga.engine",
    "django_saga.relay",
    "django_saga.sweeper",
    "django_saga.processor",
    "django_saga.transports",
    "pika",
)

#: Statements start() may issue: the saga, all its steps (already dispatched
#: where due) in one bulk insert and the first message's outbox row; on
#: PostgreSQL one statement that also wakes the relays (pg_notify).
#: docs/performance.md quotes these.
START_BUDGET = {"postgresql": 3, "sqlite": 5}


def test_a_web_process_importing_the_manager_the_console_and_the_admin_loads_no_engine():
    script = (
        "import sys, django; django.setup()\n"
        "import django_saga.api, django_saga.urls, django_saga.admin, django_saga.webhook\n"
        f"print(','.join(m for m in {ENGINE_MODULES!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("name", ["", "   ", None, 42])
def test_saga_needs_a_non_empty_string_name(name):
    with pytest.raises(SagaDefinitionError, match="saga's name must be a non-empty string") as info:
        manager.start(name, ONE_STEP)
    assert repr(name) in str(info.value)
    assert_nothing_recorded()


@pytest.mark.parametrize("context", [["a"], "text", 1])
def test_context_must_be_a_dict(context):
    with pytest.raises(SagaDefinitionError, match="context must be a dict") as info:
        manager.start("order", ONE_STEP, context=context)
    assert type(context).__name__ in str(info.value)


def test_unknown_action_is_refused_when_checking_handlers():
    with pytest.raises(UnknownActionError) as info:
        manager.start("order", [Step("a", "test.record"), Step("b", "nobody.home")])
    message = str(info.value)
    assert "Step 'b'" in message
    assert "'nobody.home'" in message
    assert "no step handler" in message
    assert isinstance(info.value, SagaDefinitionError)
    assert_nothing_recorded()


def test_unknown_compensation_is_refused_when_checking_handlers():
    with pytest.raises(UnknownActionError) as info:
        manager.start("order", [Step("a", "test.record", "nobody.undo")])
    message = str(info.value)
    assert "Step 'a'" in message
    assert "'nobody.undo'" in message
    assert "no compensation handler" in message
    assert_nothing_recorded()


def test_a_step_action_is_not_accepted_as_a_compensation():
    # "test.record" is a step handler, not a compensation handler.
    with pytest.raises(UnknownActionError, match=r"'test\.record'"):
        manager.start("order", [Step("a", "test.record", "test.record")])


def test_unknown_actions_are_accepted_when_the_check_is_off(settings):
    settings.SAGA = {**settings.SAGA, "CHECK_HANDLERS_ON_START": False}
    saga = manager.start("order", [Step("a", "nobody.home", "nobody.undo")])
    loaded = manager.get(saga.id)
    assert loaded.state == "started"
    assert loaded.step("a").action == "nobody.home"
    assert loaded.step("a").compensation == "nobody.undo"


def test_start_records_the_saga_and_one_unsent_message_for_step_one():
    saga = manager.start(
        "order",
        steps(
            ("a", "test.record", "test.undo"),
            ("b", "test.record", "test.undo"),
            ("c", "test.record", ""),
        ),
        context={"tag": "t"},
    )
    loaded = manager.get(saga.id)
    assert loaded.name == "order"
    assert loaded.state == "started"
    assert loaded.context == {"tag": "t"}
    assert loaded.completed_at is None
    assert [s.name for s in loaded.steps] == ["a", "b", "c"]
    assert [s.position for s in loaded.steps] == [0, 1, 2]
    assert [s.status for s in loaded.steps] == ["started", "pending", "pending"]
    assert [s.attempts for s in loaded.steps] == [1, 0, 0]
    assert loaded.step("a").started_at is not None
    assert loaded.step("b").started_at is None

    rows = list(OutboxMessage.objects.all())
    assert len(rows) == 1
    row = rows[0]
    assert row.saga_id == saga.id
    assert row.kind == "execute"
    assert row.sent_at is None
    message = decode(row.body.encode(), 64 * 1024)
    assert (message.kind, message.saga_id, message.step_id, message.attempt) == (
        "execute",
        saga.id,
        loaded.step("a").id,
        1,
    )
    # A message start() wrote is due at once: the relay must not wait for a grace.
    assert manager.store.claim_due(10, 30)[0].id == row.id


def test_the_returned_saga_reflects_the_started_state():
    saga = manager.start("order", steps(("a", "test.record", ""), ("b", "test.record", "")))
    assert saga.state == "started"
    assert saga.step("a").status == "started"
    assert saga.step("a").attempts == 1
    assert saga.step("b").status == "pending"


def test_each_start_is_its_own_saga():
    first = manager.start("order", ONE_STEP)
    second = manager.start("order", ONE_STEP)
    assert first.id != second.id
    assert first.step("a").id != second.step("a").id
    assert OutboxMessage.objects.filter(saga_id=first.id).count() == 1
    assert OutboxMessage.objects.filter(saga_id=second.id).count() == 1


@pytest.mark.parametrize("saga_id", ["a\x00b", "x" * 27, "", None, 7])
def test_an_id_no_saga_can_have_is_simply_not_found(saga_id):
    with pytest.raises(SagaNotFound):
        manager.get(saga_id)
    with pytest.raises(SagaNotFound):
        manager.compensate(saga_id)
    with pytest.raises(SagaNotFound):
        manager.complete_step(saga_id, "pay")


# -- the SQL it costs --------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("k", [3, 30])
def test_start_issues_a_constant_number_of_statements(k):
    with CaptureQueriesContext(connection) as queries:
        start_steps(k)
    assert len(queries) <= START_BUDGET[connection.vendor], statements_of(queries)
    inserts = [sql for sql in statements_of(queries) if 'INSERT INTO "django_saga_sagastep"' in sql]
    assert len(inserts) == 1  # one bulk insert, not k round trips


# -- a result reported by the saga's key, with the step's report token ---------------
def test_complete_step_by_key_checks_a_token_it_is_given():
    first = keyed_wait()
    Saga.objects.filter(pk=first.saga_id).update(state="compensated")
    newer = keyed_wait()
    with pytest.raises(ReportTokenMismatch, match="of saga " + newer.saga_id):
        manager.complete_step(
            ("shop", "order-X"), "pay", attempt=1, report_token=first.report_token
        )
    with pytest.raises(ReportTokenMismatch):
        manager.fail_step(("shop", "order-X"), "pay", "declined", report_token=first.report_token)
    assert SagaStep.objects.get(pk=newer.pk).status == "waiting"
    with pytest.raises(SagaDefinitionError, match="report_token must be a string"):
        manager.complete_step(newer.saga_id, "pay", report_token=b"bytes")  # type: ignore[arg-type]
    done = manager.complete_step(("shop", "order-X"), "pay", report_token=newer.report_token)
    assert done.step("pay").status == "completed"


# -- several sagas at once ---------------------------------------------------------
def test_start_together_starts_each_with_its_key_and_context_in_one_insert_a_table():
    report = [(Report(), f"report-{n}", {"n": n}) for n in range(3)]
    with CaptureQueriesContext(connection) as queries:
        sagas = manager.start_together(report)
    assert [saga.created for saga in sagas] == [True] * 3
    stored = {saga.key: saga for saga in Saga.objects.filter(pk__in=[s.pk for s in sagas])}
    assert sorted(stored) == ["report-0", "report-1", "report-2"]
    assert stored["report-2"].context == {"n": 2}
    assert stored["report-2"].definition == "tests.testapp.sagas.Report"
    assert OutboxMessage.objects.filter(saga_id__in=stored.values()).count() == 3
    if connection.vendor == "postgresql":
        inserts = [sql for sql in statements_of(queries) if sql.startswith("INSERT")]
        assert len(inserts) <= 1  # sagas, steps and outbox rows in one statement


def test_start_together_starts_none_when_one_key_is_taken():
    taken = manager.start_definition(Report(action="test.pending"), key="report-1")
    with pytest.raises(IntegrityError):
        manager.start_together([(Report(), "report-0", None), (Report(), "report-1", None)])
    assert list(Saga.objects.values_list("pk", flat=True)) == [taken.pk]


def test_start_together_checks_every_start_before_writing_any():
    with pytest.raises(UnknownActionError, match=r"no\.such_action"):
        manager.start_together(
            [(Report(), "report-0", None), (Report(action="no.such_action"), "report-1", None)]
        )
    assert_nothing_recorded()


def test_start_together_on_the_memory_store_starts_each_alone():
    store = MemoryStore()
    sagas = Manager(store).start_together([(Report(), "a", None), (Report(), "b", None)])
    assert sorted(store.load_saga(saga.pk).key for saga in sagas) == ["a", "b"]
    with pytest.raises(SagaAlreadyActive):
        Manager(store).start_together([(Report(action="test.pending"), "a", None)])


@pytest.mark.django_db
def test_every_message_of_a_high_priority_saga_goes_to_the_priority_queue():
    from django_saga import SagaDefinition
    from django_saga.messages import StepMessage
    from django_saga.models import OutboxMessage
    from django_saga.processor import Processor
    from django_saga.stores import get_store

    saga = manager.start(
        "refund", [Step("a", "test.record", ""), Step("b", "test.record", "")], priority="high"
    )
    assert saga.priority == 1
    assert OutboxMessage.objects.get().priority == 1
    # The engine's own hand-off of the next step keeps it.
    first = StepMessage("execute", saga.pk, saga.step("a").pk, 1).encode().encode()
    [handed] = Processor(get_store()).process(first).outgoing
    assert handed.priority == 1

    class Urgent(SagaDefinition):
        name = "urgent"
        priority = "high"

        def steps(self):
            return [Step("a", "test.record", "")]

    assert Urgent().start().priority == 1
    assert Urgent().start(priority="normal").priority == 0
