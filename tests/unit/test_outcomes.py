"""django_saga.outcomes: what a step handler may return besides its output."""

from __future__ import annotations

import pytest

from django_saga import LimitExceeded, Pending, SagaDefinitionError, Skip
from django_saga.validation import ERROR_MAX_CHARS
from tests.unit.helpers import HUGE


@pytest.mark.parametrize("timeout", HUGE)
def test_pending_refuses_a_timeout_it_could_not_schedule(timeout):
    with pytest.raises(SagaDefinitionError, match="Pending timeout"):
        Pending({"ref": "x"}, timeout=timeout)


def test_skip_reasons_are_checked_where_they_are_made():
    with pytest.raises(SagaDefinitionError, match="Skip reason"):
        Skip("off\x00")
    assert Skip("feature off").reason == "feature off"


def test_pending_keeps_its_output_and_a_bounded_timeout():
    waiting = Pending({"ref": "ext-1"}, timeout=3600)
    assert (dict(waiting.output), waiting.timeout) == ({"ref": "ext-1"}, 3600)
    assert (dict(Pending().output), Pending().timeout) == ({}, None)


@pytest.mark.parametrize("output", [["ref"], "ext-1", None], ids=repr)
def test_pending_output_must_be_a_dict(output):
    with pytest.raises(SagaDefinitionError, match="Pending output must be a dict"):
        Pending(output)


def test_a_skip_reason_is_prose_no_longer_than_an_error():
    assert Skip("off for\tthis shop,\r\nsee ticket 7").reason.endswith("ticket 7")
    with pytest.raises(
        SagaDefinitionError, match=r"Skip reason holds a control character \(\\x1b\)"
    ):
        Skip("\x1b[2Jgone")
    with pytest.raises(LimitExceeded, match="Skip reason is 4001 characters long"):
        Skip("x" * (ERROR_MAX_CHARS + 1))
