"""The ``saga_kit`` pytest fixture (pytest-django). Opt in from a conftest.py:

    pytest_plugins = ["django_saga.pytest_plugin"]

Not loaded by an entry point: a project with django-saga installed gets no
fixture, and no Django import at pytest's start, that it did not ask for.

The kit keeps django-saga's log records from propagating to the root logger,
where pytest captures logs (recent versions also look at non-propagating
loggers). For a test that requests a kit (this fixture or one of the
project's), the records pytest did not capture are added to its report as a
"Captured saga log" section, which pytest shows when the test fails.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import SagaTestKit


@pytest.fixture
def saga_kit(db: None) -> Iterator[SagaTestKit]:
    """A ``SagaTestKit``, installed for the test. With ``transactional_db`` (or
    ``django_db(transaction=True)``) too, the test's units really commit."""
    from .testing import SagaTestKit

    with SagaTestKit() as kit:
        yield kit


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # No kit can exist before the module is imported (and importing it needs Django).
    testing = sys.modules.get("django_saga.testing")
    if testing is None or not (report.when == "call" or report.failed):
        return report
    # Recent pytest versions capture non-propagating loggers too: leave out
    # what its own log sections already show.
    shown = "\n".join(text for title, text in report.sections if title.startswith("Captured log"))
    formatter = logging.Formatter(testing.LOG_FORMAT)
    funcargs = getattr(item, "funcargs", None) or {}
    for value in funcargs.values():
        if not isinstance(value, testing.SagaTestKit):
            continue
        unseen = [formatter.format(r) for r in value.logs if r.getMessage() not in shown]
        if unseen:
            report.sections.append((f"Captured saga log {report.when}", "\n".join(unseen)))
    return report
