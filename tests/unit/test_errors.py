"""django_saga.errors: what callers catch, and how a value is named in a message."""

from __future__ import annotations

import pytest

from django_saga import (
    DuplicateHandlerError,
    LimitExceeded,
    MalformedMessage,
    NotJSONSerializableError,
    ReportTokenMismatch,
    SagaAlreadyActive,
    SagaDefinitionError,
    SagaError,
    SagaNotFound,
    StaleResult,
    StepNotWaiting,
    UnknownActionError,
)
from django_saga.errors import BrokerUnavailable, InvalidStateTransition, PublishError, brief


@pytest.mark.parametrize(
    "error",
    [
        SagaDefinitionError,
        NotJSONSerializableError,
        LimitExceeded,
        UnknownActionError,
        DuplicateHandlerError,
        SagaNotFound,
        SagaAlreadyActive,
        ReportTokenMismatch,
        MalformedMessage,
        PublishError,
    ],
)
def test_every_error_is_a_saga_error(error):
    assert issubclass(error, SagaError)


def test_a_refused_value_is_a_value_error_and_a_missing_saga_a_lookup_error():
    """Code that catches the built-in kinds catches django-saga's too."""
    for refused in (SagaDefinitionError, NotJSONSerializableError, LimitExceeded):
        assert issubclass(refused, ValueError)
    assert issubclass(UnknownActionError, SagaDefinitionError)
    assert issubclass(SagaNotFound, LookupError)
    assert not issubclass(DuplicateHandlerError, ValueError)


def test_an_outside_result_for_another_wait_is_caught_as_a_step_not_waiting():
    assert issubclass(ReportTokenMismatch, StaleResult)
    assert issubclass(StaleResult, StepNotWaiting)
    assert issubclass(StepNotWaiting, InvalidStateTransition)


def test_a_publish_error_is_a_broker_error_that_keeps_what_was_confirmed():
    error = PublishError("nack", confirmed=("m1", "m2"))
    assert isinstance(error, BrokerUnavailable)
    assert error.confirmed == ["m1", "m2"]
    assert PublishError("nack").confirmed == []
    assert BrokerUnavailable("down").refused is False


def test_saga_already_active_carries_the_saga_that_has_the_key():
    saga = object()
    error = SagaAlreadyActive("order 7 is started", saga)
    assert error.saga is saga
    assert str(error) == "order 7 is started"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "None"),
        (True, "True"),
        (7, "7"),
        (-2.5, "-2.5"),
        ("pay", "'pay'"),
        ("x" * 60, repr("x" * 60)),
        ("x" * 61, repr("x" * 60 + "…")),
        (10**30, "an integer of 100 bits"),
        (-(10**40), "an integer of 133 bits"),
        (b"bytes", "a bytes"),
        ({"a": 1}, "a dict"),
        ([1, 2], "a list"),
    ],
    ids=repr,
)
def test_brief_names_a_value_without_a_huge_repr(value, shown):
    assert brief(value) == shown
