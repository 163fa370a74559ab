"""django_saga.testing.logs: django-saga's records kept by the kit, not printed, and given back."""

from __future__ import annotations

import logging
import sys

import pytest

from django_saga.testing import LOGGER, SagaTestKit
from tests.unit.testing.sagas import failing_steps, order_steps

pytestmark = pytest.mark.django_db


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
