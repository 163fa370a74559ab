"""django_saga.outcomes: what a step handler may return besides its output."""

from __future__ import annotations

import pytest

from django_saga import Pending, SagaDefinitionError, Skip
from tests.unit.helpers import HUGE


@pytest.mark.parametrize("timeout", HUGE)
def test_pending_refuses_a_timeout_it_could_not_schedule(timeout):
    with pytest.raises(SagaDefinitionError, match="Pending timeout"):
        Pending({"ref": "x"}, timeout=timeout)


def test_skip_reasons_are_checked_where_they_are_made():
    with pytest.raises(SagaDefinitionError, match="Skip reason"):
        Skip("off\x00")
    assert Skip("feature off").reason == "feature off"
