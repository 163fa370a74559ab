"""django_saga.pytest_plugin: the saga_kit fixture, and the kit's log in a failing test's report."""

from __future__ import annotations

import pytest

from django_saga import pytest_plugin
from tests.unit.testing.sagas import MINUTE, failing_steps, order_steps

pytestmark = pytest.mark.django_db


def test_the_fixture_from_the_pytest_plugin(saga_kit):
    saga = saga_kit.start("order", order_steps(fail_times=0, wait=MINUTE))
    saga_kit.advance(minutes=1)
    saga_kit.assert_saga(saga, "compensated", ran=["reserve", "charge"])


@pytest.mark.django_db(transaction=True)
def test_the_fixture_with_transactional_db(saga_kit, transactional_db):
    saga = saga_kit.start("order", order_steps())
    saga_kit.advance(minutes=16)
    saga_kit.assert_saga(saga, "compensated", compensated=["charge", "reserve"])


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
