"""django_saga.testing: sagas run to their end in the test's thread, on a test clock."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import TestCase, TransactionTestCase
from django.utils import timezone

from django_saga import (
    Pending,
    RetryableError,
    RetryPolicy,
    Skip,
    Step,
    clock,
    compensation_handler,
    manager,
    processor,
    pytest_plugin,
    signals,
    step_handler,
)
from django_saga.messages import StepMessage
from django_saga.models import OutboxMessage, Saga, new_id
from django_saga.stores.django import DjangoStore
from django_saga.testing import LOGGER, Event, SagaTestError, SagaTestKit
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db

MINUTE = 60.0


@step_handler("kit.reserve")
def reserve(saga, step):
    Ledger.objects.create(step_id=step.id, action="reserve")
    return {"reserved": True}


@compensation_handler("kit.release")
def release(saga, step):
    Ledger.objects.create(step_id=step.id, action="release")


@step_handler(
    "kit.charge", retry=RetryPolicy(max_attempts=3, backoff=MINUTE, max_delay=3600, jitter=0.5)
)
def charge(saga, step):
    if step.attempts <= step.input.get("fail_times", 0):
        raise RetryableError(f"the bank is busy (attempt {step.attempts})")
    return {"charged": step.attempts}


@compensation_handler("kit.refund")
def refund(saga, step):
    Ledger.objects.create(step_id=step.id, action="refund")


@step_handler("kit.await_payment", retry=RetryPolicy(max_attempts=1))
def await_payment(saga, step):
    return Pending({"ref": f"pay-{step.attempts}"}, timeout=step.input.get("wait"))


@step_handler("kit.wrap")
def wrap(saga, step):
    return {"wrapped": True} if saga.context.get("gift") else Skip("no gift")


@step_handler("kit.explode")
def explode(saga, step):
    raise ValueError("the warehouse is on fire")


def order_steps(fail_times: int = 1, wait: float | None = 15 * MINUTE) -> list[Step]:
    return [
        Step("reserve", "kit.reserve", "kit.release"),
        Step("charge", "kit.charge", "kit.refund", {"fail_times": fail_times}),
        Step("payment", "kit.await_payment", input={"wait": wait}),
    ]


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit


def test_three_step_saga_with_a_retry_and_a_15_minute_pending_timeout(kit):
    saga = kit.start("order", order_steps())
    # The charge failed once: its retry is a minute away on the test clock.
    assert saga.state == "started"
    assert kit.next_due() == kit.clock.now() + timedelta(minutes=1)
    kit.advance(minutes=1)
    assert kit.saga(saga).step("payment").status == "waiting"
    kit.advance(minutes=15)
    kit.assert_saga(
        saga,
        state="compensated",
        ran=["reserve", "charge"],
        compensated=["charge", "reserve"],
    )
    assert kit.timeline(saga) == [
        ("execute", "reserve", "completed"),
        ("execute", "charge", "retrying"),
        ("execute", "charge", "completed"),
        ("execute", "payment", "waiting"),
        ("execute", "payment", "failed"),
        ("compensate", "charge", "compensated"),
        ("compensate", "reserve", "compensated"),
    ]
    assert "no outside result" in kit.saga(saga).step("payment").error


def test_retries_back_off_exactly_as_the_policy_says(kit):
    saga = kit.start("order", order_steps(fail_times=2))
    started = kit.clock.now()
    kit.advance(seconds=59)
    assert len(kit.saga(saga).step("charge").history) == 1
    kit.advance(seconds=1)  # attempt 2 at +1 min fails: attempt 3 two minutes later
    assert len(kit.saga(saga).step("charge").history) == 2
    assert kit.next_due() == started + timedelta(minutes=3)
    kit.advance(minutes=2)
    assert kit.saga(saga).step("charge").output == {"charged": 3}


def test_a_long_advance_runs_each_retry_at_its_own_time(kit):
    saga = kit.start("order", order_steps(fail_times=2, wait=None))
    started = kit.clock.now()
    kit.advance(hours=1)
    history = kit.saga(saga).step("charge").history
    assert [entry["at"] for entry in history] == [
        (started + timedelta(minutes=m)).isoformat() for m in (0, 1, 3)
    ]
    assert kit.clock.now() == started + timedelta(hours=1)


def test_a_waiting_step_completed_by_the_kit(kit):
    saga = kit.start("order", order_steps(fail_times=0))
    assert kit.saga(saga).step("payment").status == "waiting"
    done = kit.complete_step(saga, "payment", {"charge_id": "ch_1"})
    assert done.step("payment").output == {"ref": "pay-1", "charge_id": "ch_1"}
    kit.assert_saga(saga, "completed", ran=["reserve", "charge", "payment"], compensated=[])
    assert kit.timeline(saga)[-1] == Event("outside", "payment", "completed")


def test_a_waiting_step_failed_by_the_kit(kit):
    saga = kit.start("order", order_steps(fail_times=0))
    kit.fail_step(saga, "payment", "declined")
    kit.assert_saga(saga, "compensated", compensated=["charge", "reserve"])
    assert Ledger.objects.filter(action__in=["release", "refund"]).count() == 2


def test_a_deadline_compensates_when_the_clock_passes_it(kit):
    saga = kit.start("order", order_steps(fail_times=0, wait=None), deadline=timedelta(hours=2))
    kit.advance(hours=1, minutes=59)
    assert kit.saga(saga).state == "started"
    kit.advance(minutes=1)
    done = kit.assert_saga(saga, "compensated", compensated=["charge", "reserve"])
    assert done.error.startswith("deadline ")
    assert done.step("payment").status == "cancelled"


def test_skipped_steps_and_a_failing_assertion_that_shows_the_timeline(kit):
    steps = [Step("reserve", "kit.reserve", "kit.release"), Step("wrap", "kit.wrap")]
    saga = kit.start("gift", steps, {"gift": False})
    kit.assert_saga(saga, "completed", ran=["reserve"], skipped=["wrap"])
    with pytest.raises(AssertionError) as failed:
        kit.assert_saga(saga, "compensated", ran=["wrap", "reserve"])
    message = str(failed.value)
    assert "state: expected 'compensated', got 'completed'" in message
    assert "ran: expected ['wrap', 'reserve'], got ['reserve']" in message
    assert "execute wrap: skipped" in message


def test_signals_fire_inside_the_tests_transaction(kit):
    seen: list[str] = []

    def completed(sender, saga, **kwargs):
        seen.append(saga.pk)

    signals.saga_completed.connect(completed)
    try:
        saga = kit.start("gift", [Step("wrap", "kit.wrap")], {"gift": True})
    finally:
        signals.saga_completed.disconnect(completed)
    assert seen == [saga.pk]


def test_a_saga_started_by_the_project_code_is_run_too(kit):
    saga = manager.start("order", order_steps(fail_times=0, wait=None))
    assert kit.run() == 3
    kit.complete_step(saga, "payment")
    kit.assert_saga(saga, "completed", ran=["reserve", "charge", "payment"])


def test_a_dead_lettered_message_fails_the_test(kit):
    saga = kit.start("order", order_steps(fail_times=0))
    body = StepMessage("execute", saga.pk, "01NOSUCHSTEP", 1).encode()
    OutboxMessage.objects.create(
        id=new_id(), saga_id=saga.pk, kind="execute", body=body, available_at=clock.now()
    )
    with pytest.raises(SagaTestError, match="dead-lettered"):
        kit.run()


def test_the_kit_runs_only_when_installed():
    kit = SagaTestKit()
    with pytest.raises(SagaTestError, match="install"):
        kit.run()
    with pytest.raises(SagaTestError, match="install"):
        kit.start("order", order_steps())
    assert not Saga.objects.exists()
    jitter = processor.retry_random
    with kit:
        assert clock.now() == kit.clock.now()
    assert not clock.replaced() and processor.retry_random is jitter


def test_another_thread_keeps_the_real_clock_and_jitter_while_the_kit_runs(kit):
    kit.advance(days=3)
    seen: dict[str, object] = {}

    def engine_thread() -> None:
        seen["now"], seen["replaced"] = clock.now(), clock.replaced()
        seen["jitter"] = {processor.retry_random() for _ in range(20)}

    thread = threading.Thread(target=engine_thread)
    thread.start()
    thread.join()
    assert seen["replaced"] is False
    assert abs(seen["now"] - timezone.now()) < timedelta(minutes=1)
    assert len(seen["jitter"]) > 1
    # Where the kit runs: its clock, three days ahead, and retries with no jitter.
    assert clock.now() == kit.clock.now() > timezone.now() + timedelta(days=2)
    assert processor.retry_random() == 0.5


@pytest.mark.parametrize(
    ("name", "test_name"),
    [
        ("shop", None),
        ("shop_test", None),
        ("shop", "test_shop"),  # a shell on the live database, tests configured
        ("/srv/shop/db.sqlite3", "/srv/shop/test-db.sqlite3"),
        ("ci_shop_backup", "ci_shop"),
    ],
)
def test_the_kit_refuses_a_database_that_is_not_a_test_database(monkeypatch, name, test_name):
    saga = manager.start("order", order_steps(fail_times=0, wait=None))
    monkeypatch.setitem(connection.settings_dict, "NAME", name)
    monkeypatch.setitem(connection.settings_dict["TEST"], "NAME", test_name)
    kit = SagaTestKit()
    with pytest.raises(ImproperlyConfigured) as refused, kit:
        kit.run()
    message = str(refused.value)
    assert f"will not run on the database 'default' (NAME {name!r}): it is not a test" in message
    assert "marks them sent" in message and "SagaTestKit(allow_any_database=True)" in message
    assert not clock.replaced()
    # The engines' messages are left to them.
    assert OutboxMessage.objects.filter(saga_id=saga.pk, sent_at__isnull=True).count() == 1
    with SagaTestKit(allow_any_database=True) as kit:
        assert kit.run() == 3
    assert not OutboxMessage.objects.filter(saga_id=saga.pk, sent_at__isnull=True).exists()


@pytest.mark.parametrize(
    ("name", "test_name", "sqlite_only"),
    [
        ("test_shop", None, False),
        ("ci_shop", "ci_shop", False),  # the runner switched to the TEST NAME
        ("ci_shop_2", "ci_shop", False),  # a parallel run's copy of it
        (":memory:", None, True),
        ("file:memorydb_default?mode=memory&cache=shared", None, True),
        ("/tmp/test_shop.sqlite3", None, True),
        ("/ci/shop_3.sqlite3", "/ci/shop.sqlite3", True),
    ],
)
def test_the_kit_runs_on_the_databases_test_runners_make(monkeypatch, name, test_name, sqlite_only):
    if sqlite_only and connection.vendor != "sqlite":
        pytest.skip("a SQLite name")
    monkeypatch.setitem(connection.settings_dict, "NAME", name)
    monkeypatch.setitem(connection.settings_dict["TEST"], "NAME", test_name)
    with SagaTestKit():
        assert clock.replaced()


def test_the_store_compares_due_times_with_the_test_clock_only_when_one_is_set(kit):
    store = DjangoStore()
    saga = kit.start("order", order_steps(fail_times=0))
    assert store.due_timeouts(10) == []
    kit.clock.advance(timedelta(minutes=15))
    assert store.due_timeouts(10) == [(saga.pk, saga.step("payment").pk)]
    kit.uninstall()
    # The database's clock: fifteen minutes have not passed by it.
    assert store.due_timeouts(10) == []


def test_the_fixture_from_the_pytest_plugin(saga_kit):
    saga = saga_kit.start("order", order_steps(fail_times=0, wait=MINUTE))
    saga_kit.advance(minutes=1)
    saga_kit.assert_saga(saga, "compensated", ran=["reserve", "charge"])


@pytest.mark.django_db(transaction=True)
def test_the_fixture_with_transactional_db(saga_kit, transactional_db):
    saga = saga_kit.start("order", order_steps())
    saga_kit.advance(minutes=16)
    saga_kit.assert_saga(saga, "compensated", compensated=["charge", "reserve"])


class KitInTestCase(TestCase):
    """As a project's TestCase would use it: each test in a savepoint."""

    def setUp(self) -> None:
        self.kit = self.enterContext(SagaTestKit())

    def test_an_order_completes(self) -> None:
        saga = self.kit.start("order", order_steps(fail_times=1))
        self.kit.advance(minutes=1)
        self.kit.complete_step(saga, "payment")
        self.kit.assert_saga(saga, "completed", ran=["reserve", "charge", "payment"])

    def test_an_order_times_out(self) -> None:
        saga = self.kit.start("order", order_steps(fail_times=0))
        self.kit.advance(minutes=15)
        self.kit.assert_saga(saga, "compensated", compensated=["charge", "reserve"])


class KitInTransactionTestCase(TransactionTestCase):
    """Units commit for real here; the kit drives them the same way."""

    def setUp(self) -> None:
        self.kit = self.enterContext(SagaTestKit())

    def test_an_order_times_out(self) -> None:
        saga = self.kit.start("order", order_steps(fail_times=1))
        self.kit.advance(minutes=16)
        self.kit.assert_saga(
            saga, "compensated", ran=["reserve", "charge"], compensated=["charge", "reserve"]
        )
        self.assertEqual(Ledger.objects.filter(action="refund").count(), 1)


# -- logs ------------------------------------------------------------------------


def failing_steps() -> list[Step]:
    return [Step("reserve", "kit.reserve", "kit.release"), Step("ship", "kit.explode")]


def logging_state() -> dict[str, tuple[object, list[logging.Handler], bool]]:
    """Each django-saga logger's handlers list (the object and its contents) and propagate."""
    loggers = [logging.getLogger(LOGGER), logging.root] + [
        logger
        for name, logger in logging.root.manager.loggerDict.items()
        if name.startswith(LOGGER + ".") and isinstance(logger, logging.Logger)
    ]
    return {
        logger.name: (id(logger.handlers), list(logger.handlers), logger.propagate)
        for logger in loggers
    }


class Console(logging.StreamHandler):
    """A console handler writing to whatever ``sys.stderr`` is when a record
    comes (capsys's, in a test), as Python's last resort does."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


@pytest.fixture
def project_console(monkeypatch):
    """A project's logging: a console handler on django_saga, and one of its
    loggers with a console handler of its own that does not propagate."""
    monkeypatch.setattr(logging.getLogger(LOGGER), "handlers", [Console()])
    engine = logging.getLogger("django_saga.engine")
    monkeypatch.setattr(engine, "handlers", [Console()])
    monkeypatch.setattr(engine, "propagate", False)


def test_a_failing_steps_warning_is_kept_by_the_kit_not_printed(project_console, capsys, caplog):
    before = logging_state()
    with SagaTestKit() as kit:
        saga = kit.start("doomed", failing_steps())
        kit.assert_saga(saga, "compensated", ran=["reserve"], compensated=["reserve"])
    assert capsys.readouterr().err == ""
    # Not handed to the root's handlers either (a project's, or pytest's here).
    assert [r for r in caplog.records if r.name.startswith(LOGGER)] == []
    [failed] = [r for r in kit.logs if "outcome=failed" in r.getMessage()]
    assert failed.levelno == logging.WARNING
    assert failed.name == "django_saga.engine"
    assert f"saga={saga.pk} step=ship" in failed.getMessage()
    assert "the warehouse is on fire" in failed.getMessage()
    assert any("step=ship" in m and "outcome=failed" in m for m in kit.log_messages())
    assert logging_state() == before


def test_without_capture_the_warnings_go_where_the_project_sends_them(project_console, capsys):
    with SagaTestKit(capture_logs=False) as kit:
        saga = kit.start("doomed", failing_steps())
    err = capsys.readouterr().err
    assert f"saga={saga.pk} step=ship" in err and "outcome=failed" in err
    assert kit.logs == []


def test_uninstall_puts_logging_back_as_it_was_also_when_the_test_fails(project_console, capsys):
    before = logging_state()
    kit = SagaTestKit()
    with pytest.raises(AssertionError), kit:
        saga = kit.start("doomed", failing_steps())
        assert logging_state() != before
        kit.assert_saga(saga, "completed")
    assert logging_state() == before
    kit.uninstall()  # once more: nothing left to put back
    assert logging_state() == before
    # The block failed: its records went, late, where they would have gone.
    err = capsys.readouterr().err
    assert f"saga={saga.pk} step=ship" in err and "outcome=failed" in err
    assert err.count("outcome=failed") == 1


def test_a_block_that_ends_well_hands_over_nothing(project_console, capsys):
    kit = SagaTestKit()
    with kit:
        kit.start("doomed", failing_steps())
    assert capsys.readouterr().err == ""
    # Installed again, the kit hands over the records of this block only.
    with pytest.raises(ZeroDivisionError), kit:
        logging.getLogger("django_saga.engine").warning("second block")
        1 / 0  # noqa: B018
    assert capsys.readouterr().err == "second block\n"


def test_log_messages_filter_by_level_and_log_text_formats_them(kit):
    kit.start("order", order_steps(fail_times=1, wait=None))
    engine = logging.getLogger("django_saga.engine")
    engine.error("an error of the test's own")
    assert "an error of the test's own" in kit.log_messages("error")
    assert kit.log_messages(logging.ERROR) == ["an error of the test's own"]
    [retrying] = [m for m in kit.log_messages() if "outcome=retrying" in m]
    assert "the bank is busy (attempt 1)" in retrying
    assert "ERROR    django_saga.engine:" in kit.log_text()
    with pytest.raises(ValueError, match="not a logging level"):
        kit.log_messages("LOUD")


def test_a_failing_assertion_shows_the_sagas_warnings(kit):
    saga = kit.start("doomed", failing_steps())
    with pytest.raises(AssertionError) as failed:
        kit.assert_saga(saga, "completed")
    message = str(failed.value)
    assert "Its warnings in the log:" in message
    assert "outcome=failed" in message and "the warehouse is on fire" in message


def made_report(item, call, report):
    """What the plugin's hook makes of ``report``."""
    hook = pytest_plugin.pytest_runtest_makereport(item, call)
    next(hook)
    with pytest.raises(StopIteration) as done:
        hook.send(report)
    return done.value.value


def test_the_plugin_adds_the_kits_log_to_a_tests_report(saga_kit, request):
    saga_kit.start("doomed", failing_steps())
    call = pytest.CallInfo.from_call(lambda: None, "call")
    report = pytest.TestReport.from_item_and_call(request.node, call)
    report.sections = [s for s in report.sections if not s[0].startswith("Captured log")]
    assert made_report(request.node, call, report) is report
    [(title, text)] = [(t, c) for t, c in report.sections if "saga log" in t]
    assert title == "Captured saga log call"
    assert "WARNING  django_saga.engine:" in text and "outcome=failed" in text
    # What pytest's own capture already shows (it may watch the kit's logger) is
    # not shown twice.
    shown = pytest.TestReport.from_item_and_call(request.node, call)
    shown.sections = [("Captured log call", saga_kit.log_text())]
    made_report(request.node, call, shown)
    assert [t for t, _ in shown.sections] == ["Captured log call"]
