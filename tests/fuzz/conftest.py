"""Fixtures of the fuzz suite."""

import pytest

from tests.fuzz.strategies import SECRET


@pytest.fixture
def webhook_secret(settings):  # type: ignore[no-untyped-def]
    """The webhook's secret, set once for all of a test's examples: a setting
    changed in each example would stack one override per example."""
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": SECRET}
    return SECRET
