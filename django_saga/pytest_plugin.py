"""The ``saga_kit`` pytest fixture (pytest-django). Opt in from a conftest.py:

    pytest_plugins = ["django_saga.pytest_plugin"]

Not loaded by an entry point: a project with django-saga installed gets no
fixture, and no Django import at pytest's start, that it did not ask for.

The kit keeps django-saga's log records away from pytest's own capture; for
a test that requests a kit (this fixture or one of the project's), they are
added to its report as a "Captured saga log" section, which pytest shows
when the test fails, beside the logs it captured itself.
"""

from __future__ import annotations

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
    funcargs = getattr(item, "funcargs", None) or {}
    for value in funcargs.values():
        if isinstance(value, testing.SagaTestKit) and (text := value.log_text()):
            report.sections.append((f"Captured saga log {report.when}", text))
    return report
