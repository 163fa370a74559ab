"""django_saga.testing.commits: on-commit callbacks run inside the test's transaction."""

from __future__ import annotations

import pytest

from django_saga import Step, signals

pytestmark = pytest.mark.django_db


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
